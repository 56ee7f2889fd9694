"""Model weights on disk: safetensors only, the config stored as JSON in the metadata.

A weights file never runs code when loaded: anything that is not a safetensors file (a
pickle, a zip from torch.save) is refused before it is parsed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import ModelError
from .config import IMFConfig
from .imf import IMF

DEFAULT_IMF = "imf-small"  # the shipped IMF network, which load(None) reads (the codec's
# default model is motion.DEFAULT_MODEL)
FORMAT_KEY = "imfcodec.format"
FORMAT_VALUE = "imf-weights-1"
KIND_KEY = "imfcodec.kind"  # the motion model's kind (motion/__init__.py; "imf" when absent)


@dataclass
class LoadedModel:
    name: str  # the stable model name, written into every .imf header
    digest: bytes  # first 16 bytes of the SHA-256 of the weights file
    model: IMF
    metadata: dict


def shipped_models() -> dict[str, Path]:
    """Names and paths of the weights files inside the package."""
    folder = resources.files("imfcodec") / "weights"
    return {
        Path(str(p)).stem: Path(str(p))
        for p in folder.iterdir()
        if str(p).endswith(".safetensors")
    }


def resolve(name_or_path: str | None, extra_names: list[str] | None = None) -> Path:
    """A shipped model's name, or a path to a .safetensors file (``extra_names``: other names
    that would have loaded, for the error message)."""
    name_or_path = name_or_path or DEFAULT_IMF
    shipped = shipped_models()
    if name_or_path in shipped:
        return shipped[name_or_path]
    path = Path(name_or_path)
    if path.is_file():
        return path
    known = ", ".join(sorted(set(shipped) | set(extra_names or []))) or "none"
    raise ModelError(f"no model {str(name_or_path)!r}: not a file, and not a known model ({known})")


def serialize(model: IMF, name: str, extra: dict | None = None, half: bool = True) -> bytes:
    """The bytes of a weights file: tensors (fp16 when ``half``) and the config as metadata."""
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu").contiguous()
        if half and value.is_floating_point() and key != "token_scale":
            value = value.half()
        tensors[key] = value
    return canonical(st_save(tensors, metadata=metadata(name, model.cfg.to_dict(), extra)))


def metadata(name: str, config: dict, extra: dict | None = None) -> dict:
    """A weights file's safetensors metadata: the format tag, the name, the config as JSON,
    and ``extra`` entries (JSON unless already strings)."""
    values = {FORMAT_KEY: FORMAT_VALUE, "name": name, "config": json.dumps(config, sort_keys=True)}
    for key, value in (extra or {}).items():
        values[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return values


def digest(data: bytes) -> bytes:
    """How a bitstream names a weights file: the first 16 bytes of its SHA-256."""
    return hashlib.sha256(data).digest()[:16]


def canonical(data: bytes) -> bytes:
    """The same safetensors file with its JSON header written one fixed way.

    safetensors writes the metadata keys in hash-map order, which changes from one call to
    the next, so the same weights would get a different file, and a different digest (the
    digest is how a bitstream names its model). The tensor bytes and their offsets are
    already deterministic; only the header is rewritten: keys sorted, no spaces, padded with
    spaces to a multiple of 8 bytes as the format allows.
    """
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + header_len :]


def save(model: IMF, path: str | Path, name: str, extra: dict | None = None) -> None:
    Path(path).write_bytes(serialize(model, name, extra))


def refuse_pickle(data: bytes, where: str) -> None:
    """A zip (torch.save) or a raw pickle would run code when loaded: refused unread."""
    if data[:2] == b"PK" or data[:1] == b"\x80":
        raise ModelError(f"{where}: refusing a pickle-based weights file; only safetensors load")


def check_safetensors(data: bytes, where: str) -> dict:
    """The metadata of an imfcodec safetensors weights file (ModelError for anything else)."""
    refuse_pickle(data, where)
    if len(data) < 10:
        raise ModelError(f"{where}: not a safetensors file (too short)")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > len(data) - 8 or data[8:9] != b"{":
        raise ModelError(f"{where}: not a safetensors file")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"{where}: corrupt safetensors header") from None
    metadata = header.get("__metadata__") or {}
    if metadata.get(FORMAT_KEY) != FORMAT_VALUE:
        raise ModelError(f"{where}: not an imfcodec weights file (no {FORMAT_KEY} metadata)")
    return metadata


def load(name_or_path: str | None = None, device: str = "cpu") -> LoadedModel:
    path = resolve(name_or_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read weights {path}: {exc.strerror}") from None
    return load_bytes(data, str(path), device)


def load_bytes(data: bytes, where: str = "weights", device: str = "cpu") -> LoadedModel:
    metadata = check_safetensors(data, where)
    try:
        cfg = IMFConfig.from_dict(json.loads(metadata["config"]))
        tensors = st_load(data)
    except (KeyError, ValueError, TypeError, SafetensorError) as exc:
        raise ModelError(f"{where}: corrupt weights file ({exc})") from None
    model = IMF(cfg)
    state = {k: v.float() for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"{where}: weights do not fit their config ({first})") from None
    if not all(bool(torch.isfinite(v).all()) for v in state.values()):
        raise ModelError(f"{where}: the weights hold NaN or infinite values")
    model.eval().to(device)
    return LoadedModel(metadata.get("name", cfg.name), digest(data), model, metadata)

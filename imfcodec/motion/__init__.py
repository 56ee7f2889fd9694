"""Motion models behind one interface (base.py), and the registry that names them.

A model is either built in (no weights: ``static``) or read from a safetensors weights file
(a shipped name such as ``imf-flow`` or ``imf-small``, or a path), whose metadata names its kind. Adding a
model is one module implementing ``MotionModel`` and one line in ``REGISTRY``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from ..models import weights
from .base import Description, MotionModel
from .flow import FlowMotion
from .imf import IMFMotion
from .static import StaticMotion

REGISTRY: dict[str, type[MotionModel]] = {
    "imf": IMFMotion,  # the IMF network, from a weights file (the shipped imf-* models)
    "flow": FlowMotion,  # a motion dictionary: tokens warp the key frame (flow.py)
    "static": StaticMotion,  # built in: shows the key frame; the floor every model must beat
}
# the codec's default: the flow model, which measures better on val than imf-small
# (benchmarks/CHANGELOG.md)
DEFAULT_MODEL = "imf-flow"
KIND_KEY = weights.KIND_KEY  # weights metadata naming the model's kind ("imf" when absent)

__all__ = ["DEFAULT_MODEL", "Description", "MotionModel", "REGISTRY", "known_names", "load"]


def known_names() -> list[str]:
    """Models that load by name alone: the built-in ones and the shipped weights."""
    built_in = [name for name, cls in REGISTRY.items() if cls.built_in]
    return sorted(built_in + list(weights.shipped_models()))


def load(name_or_path: str | Path | None = None, device: str = "cpu") -> MotionModel:
    """A built-in model's name, a shipped model's name, or a .safetensors path (None: the
    default model)."""
    name = str(name_or_path or DEFAULT_MODEL)
    built_in = REGISTRY.get(name)
    if built_in is not None and built_in.built_in:
        return built_in(device)
    path = weights.resolve(name, extra_names=known_names())
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read weights {path}: {exc.strerror}") from None
    kind = weights.check_safetensors(data, str(path)).get(KIND_KEY, "imf")
    cls = REGISTRY.get(kind)
    if cls is None or cls.built_in:
        raise ModelError(f"{path}: a model of kind {kind!r}, which this imfcodec does not know")
    return cls.from_weights(data, str(path), device)

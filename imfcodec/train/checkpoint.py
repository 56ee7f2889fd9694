"""Training checkpoints (weights, optimizer and discriminator state, step; written whole or
not at all) and the export of shipped weights from them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file

from ..models import IMF
from ..models import weights as wts
from .average import WeightAverage
from .options import TrainOptions




def flat_optimizer_state(opt: torch.optim.Optimizer) -> dict:
    flat = {}
    for pid, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            flat[f"{pid}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return flat


def restore_optimizer(opt: torch.optim.Optimizer, flat: dict) -> None:
    sd = opt.state_dict()
    for key, value in flat.items():
        pid, name = key.split(".", 1)
        sd["state"].setdefault(int(pid), {})[name] = value
    opt.load_state_dict(sd)


def save_checkpoint(folder: Path, step: int, options: TrainOptions, model: IMF,
                    opt: torch.optim.Optimizer, disc: torch.nn.Module,
                    disc_opt: torch.optim.Optimizer, ema: WeightAverage | None = None) -> None:
    """Writes folder.tmp and renames it over folder, so a crash never leaves half a checkpoint."""
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "model.safetensors").write_bytes(wts.serialize(model, options.name, half=False))
    if ema is not None:
        (tmp / "ema.safetensors").write_bytes(wts.serialize(ema.model, options.name, half=False))
    save_file(flat_optimizer_state(opt), str(tmp / "optimizer.safetensors"))
    save_file({k: v.detach().cpu().contiguous() for k, v in disc.state_dict().items()},
              str(tmp / "discriminator.safetensors"))
    save_file(flat_optimizer_state(disc_opt), str(tmp / "disc_optimizer.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step, "options": asdict(options)}, indent=1))
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        for f in old.iterdir():
            f.unlink()
        old.rmdir()


def load_checkpoint(folder: Path, device, model_name: str | None = None):
    """Returns (model, flat optimizer state, discriminator state or None, flat disc state, step,
    weight average or None: checkpoints written before it existed have none)."""
    model = wts.load(folder / "model.safetensors", device).model
    state = json.loads((folder / "state.json").read_text())
    opt = load_file(str(folder / "optimizer.safetensors"))
    disc_file, disc_opt_file = folder / "discriminator.safetensors", folder / "disc_optimizer.safetensors"
    disc = load_file(str(disc_file)) if disc_file.exists() else None
    disc_opt = load_file(str(disc_opt_file)) if disc_opt_file.exists() else {}
    ema_file = folder / "ema.safetensors"
    ema = wts.load(ema_file, device).model if ema_file.exists() else None
    return model, opt, disc, disc_opt, state["step"], ema



def export(checkpoint: str | Path, target: str | Path, name: str | None = None,
           extra: dict | None = None) -> Path:
    """Strips training state: fp16 weights and the config, nothing else. From a checkpoint
    folder it takes the weight average when there is one (what validation measured)."""
    checkpoint = Path(checkpoint)
    source = checkpoint
    if checkpoint.is_dir():
        source = checkpoint / "ema.safetensors"
        if not source.exists():
            source = checkpoint / "model.safetensors"
    loaded = wts.load(source)
    Path(target).write_bytes(wts.serialize(loaded.model, name or loaded.name, extra))
    return Path(target)

"""The training loop: reads top to bottom; checkpoints carry config, step and optimizer state."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .. import intra
from ..entropy import quantize as quant
from ..models import IMF, IMFConfig, preset
from ..models import weights as wts
from ..quality import DEFAULT_QUALITY, LEVELS, level
from .data import PairSampler, load_clips
from .losses import perceptual_substitute, rate_proxy, structural


@dataclass
class TrainOptions:
    data: str
    out: str
    val: str | None = None
    preset: str = "small"
    steps: int = 1000
    batch: int = 8
    lr: float = 2e-4
    l1_weight: float = 10.0
    perceptual_weight: float = 10.0
    rate_weight: float = 0.05
    rate_start: int = 2000  # the rate term ramps in over rate_start..2*rate_start steps
    eval_every: int = 200
    save_every: int = 100
    max_frames: int | None = None  # per clip, to bound memory
    threads: int | None = None
    seed: int = 0
    name: str = "imf-small"


def lr_at(step: int, base: float, warmup: int = 100) -> float:
    return base * min(1.0, (step + 1) / warmup)


def ramp(step: int, start: int) -> float:
    """0 before ``start``, then linearly to 1 at ``2 * start``."""
    if start <= 0:
        return 1.0
    return min(1.0, max(0.0, (step - start) / start))


def save_checkpoint(folder: Path, model: IMF, opt: torch.optim.Optimizer, step: int,
                    options: TrainOptions, name: str) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "model.safetensors").write_bytes(wts.serialize(model, name, half=False))
    state = {}
    for i, s in enumerate(opt.state_dict()["state"].values()):
        for key, value in s.items():
            state[f"{i}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_file(state, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step, "options": asdict(options)}, indent=1))
    if folder.exists():
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    tmp.rename(folder)


def load_checkpoint(folder: Path, opt_params) -> tuple[IMF, dict, int]:
    loaded = wts.load(folder / "model.safetensors")
    state = json.loads((folder / "state.json").read_text())
    return loaded.model, load_file(str(folder / "optimizer.safetensors")), state["step"]


def restore_optimizer(opt: torch.optim.Optimizer, flat: dict) -> None:
    sd = opt.state_dict()
    params = sd["param_groups"][0]["params"]
    for i, pid in enumerate(params):
        keys = [k for k in flat if k.startswith(f"{i}.")]
        if keys:
            sd["state"][pid] = {k.split(".", 1)[1]: flat[k] for k in keys}
    opt.load_state_dict(sd)


@torch.no_grad()
def evaluate(model: IMF, val_pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Reconstruction through the codec's own steps: the HEVC-coded reference at the default
    quality, the quantised current token; PSNR and (MS-)SSIM against the source frame."""
    model.eval()
    q = level(DEFAULT_QUALITY)
    grid = torch.from_numpy(quant.unit(q.token_step, model.token_scale.cpu().numpy()))
    psnr, sim, copy_sim = [], [], []
    for ref_np, cur_np in val_pairs:
        ref_np = intra.decode(intra.encode(ref_np, intra.IntraCodec.HEVC, q.hevc_qp), intra.IntraCodec.HEVC)
        ref = torch.from_numpy(ref_np).permute(2, 0, 1)[None].float() / 255
        cur = torch.from_numpy(cur_np).permute(2, 0, 1)[None].float() / 255
        token = model.encode_token(cur)
        token = torch.round(token / grid) * grid
        out = model.decode(token, model.reference(ref)).clamp(0, 1)
        mse = (out - cur).pow(2).mean().item()
        psnr.append(10 * math.log10(1 / max(mse, 1e-10)))
        sim.append(1 - structural(out, cur).item())
        copy_sim.append(1 - structural(ref, cur).item())
    model.train()
    return {"val_psnr": float(np.mean(psnr)), "val_msssim": float(np.mean(sim)),
            "val_copy_msssim": float(np.mean(copy_sim))}


def val_pairs_from(clips: list[np.ndarray], per_clip: int = 4) -> list:
    pairs = []
    for clip in clips:
        idx = np.linspace(1, len(clip) - 1, per_clip).astype(int)
        pairs += [(clip[0], clip[i]) for i in idx]
    return pairs


def train(options: TrainOptions, resume: bool = False, log=print) -> Path:
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "ckpt"
    cfg: IMFConfig = preset(options.preset)
    model = IMF(cfg)
    step = 0
    opt = torch.optim.Adam(model.parameters(), lr=options.lr, betas=(0.5, 0.999))
    if resume and ckpt.exists():
        model, flat, step = load_checkpoint(ckpt, None)
        opt = torch.optim.Adam(model.parameters(), lr=options.lr, betas=(0.5, 0.999))
        restore_optimizer(opt, flat)
        log(f"resumed from {ckpt} at step {step}")
    model.train()
    clips = load_clips(options.data, cfg.image_size, options.max_frames)
    log(f"{len(clips)} training clips, {sum(len(c) for c in clips)} frames")
    sampler = PairSampler(clips, seed=options.seed + step)
    val_pairs = val_pairs_from(load_clips(options.val, cfg.image_size, 300)) if options.val else []
    steps_q = torch.tensor([lv.token_step for lv in LEVELS])
    best = -1.0
    best_file = out / "best.json"
    if best_file.exists():
        best = json.loads(best_file.read_text())["val_msssim"]
    log_file = open(out / "log.jsonl", "a")
    try:
        while step < options.steps:
            t0 = time.time()
            ref, cur = sampler.batch(options.batch)
            step_sizes = steps_q[torch.randint(len(steps_q), (options.batch,))]
            noise = (torch.rand(options.batch, cfg.token_dim) - 0.5) * step_sizes[:, None]
            for group in opt.param_groups:
                group["lr"] = lr_at(step, options.lr)
            out_img, t_cur, t_ref = model(ref, cur, noise)
            l1 = (out_img - cur).abs().mean()
            perc = perceptual_substitute(out_img, cur)
            rate = rate_proxy(t_cur, t_ref.detach(), model.token_scale, step_sizes)
            rate_weight = options.rate_weight * ramp(step, options.rate_start)
            loss = options.l1_weight * l1 + options.perceptual_weight * perc + rate_weight * rate
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                spread = torch.cat([t_cur, t_ref]).std(0).clamp_min(1e-4)
                model.token_scale.mul_(0.99).add_(0.01 * spread)
            step += 1
            entry = {"step": step, "loss": loss.item(), "l1": l1.item(), "perceptual": perc.item(),
                     "rate_bits": rate.item(), "sec": round(time.time() - t0, 3)}
            if options.eval_every and (step % options.eval_every == 0 or step == options.steps) and val_pairs:
                entry.update(evaluate(model, val_pairs))
                if entry["val_msssim"] > best:
                    best = entry["val_msssim"]
                    (out / "best.safetensors").write_bytes(wts.serialize(model, options.name))
                    best_file.write_text(json.dumps(entry))
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()
            log(entry)
            if step % options.save_every == 0 or step == options.steps:
                save_checkpoint(ckpt, model, opt, step, options, options.name)
    finally:
        log_file.close()
    return ckpt


def export(checkpoint: str | Path, target: str | Path, name: str | None = None,
           extra: dict | None = None) -> Path:
    """Strips training state: fp16 weights and the config, nothing else."""
    checkpoint = Path(checkpoint)
    source = checkpoint / "model.safetensors" if checkpoint.is_dir() else checkpoint
    loaded = wts.load(source)
    Path(target).write_bytes(wts.serialize(loaded.model, name or loaded.name, extra))
    return Path(target)



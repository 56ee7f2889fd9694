"""Training a flow model's correction network (models/warp_refiner.py), on a CPU.

Teacher forcing: examples are made once. For frames of each training clip: a key frame of the
same clip coded at a random quality level, and the coefficients the encoder would send for
each frame (DIS analysis against the decoded key frame, quantised at that level's step). The
network learns to turn the warped key frame into the frame (L1 + 1 - MS-SSIM). Validation on
held-out clips' examples scores the rebuilt frames' MS-SSIM; a weights file is written only
when that score beats every earlier one, starting from the warp alone (the network starts as
the identity), so the file written is never worse on validation than the model it started from.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import intra
from ..entropy import quantize as quant
from ..frames import to_tensor
from ..io.atomic import write_bytes
from ..levels import LEVELS
from ..losses import structural
from ..metrics import msssim_frames
from ..models.warp_refiner import RefinerConfig, WarpRefiner
from ..motion.flow import FlowMotion, serialize
from ..source import Source


@dataclass
class Example:
    """Frames of one clip, their key frame as decoded, and the coefficients sent for them."""

    key: np.ndarray  # (H, W, 3) uint8
    frames: np.ndarray  # (N, H, W, 3) uint8
    tokens: np.ndarray  # (N, K) float32, dequantised


@dataclass(frozen=True)
class RefinerOptions:
    minutes: float = 60.0
    batch: int = 8
    lr: float = 1e-3
    keys_per_clip: int = 4
    frames_per_key: int = 8
    eval_every: int = 200
    seed: int = 0
    network: RefinerConfig = RefinerConfig()


def examples(model: FlowMotion, paths: list[Path], keys_per_clip: int, frames_per_key: int,
             seed: int, progress: Callable[[int], None] | None = None) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for path in paths:
        frames = Source.open(path, model.image_size).read()
        for _ in range(keys_per_clip if len(frames) > 1 else 0):
            level = LEVELS[rng.randrange(len(LEVELS))]
            data = intra.encode(frames[rng.randrange(len(frames))], intra.IntraCodec.HEVC, level.hevc_qp)
            key = intra.decode(data, intra.IntraCodec.HEVC)
            chosen = rng.sample(range(len(frames)), min(frames_per_key, len(frames)))
            shown = [frames[i] for i in chosen]
            grid = quant.unit(level.token_step, model.token_scale)
            tokens = quant.dequantize(quant.quantize(model.analyse(shown, model.reference(key)), grid), grid)
            out.append(Example(key, np.stack(shown), tokens))
        if progress:
            progress(1)
    return out


def _batch(items: list[tuple[Example, int]], model: FlowMotion):
    keys = to_tensor([e.key for e, _ in items], "cpu")
    frames = to_tensor([e.frames[i] for e, i in items], "cpu")
    tokens = torch.from_numpy(np.stack([e.tokens[i] for e, i in items]))
    with torch.no_grad():
        dense, warped = model.warp(keys, tokens)
    return keys, frames, dense, warped


def score(network: WarpRefiner | None, model: FlowMotion, val: list[Example]) -> float:
    """Mean MS-SSIM of the rebuilt validation frames (``network`` None: the warp alone)."""
    found, truth = [], []
    with torch.inference_mode():
        for example in val:
            items = [(example, i) for i in range(len(example.frames))]
            keys, frames, dense, warped = _batch(items, model)
            shown = warped if network is None else network(warped, keys, dense)
            found.extend(shown.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).numpy())
            truth.extend(example.frames)
    return float(np.mean(msssim_frames(truth, found)))


def train(model: FlowMotion, train_set: list[Example], val_set: list[Example], out: Path,
          options: RefinerOptions, log: Callable[[str], None] = print, force: bool = False) -> dict:
    """Trains for ``options.minutes``; writes ``out`` each time validation improves (the
    first time over an existing file only with ``force``, later over its own). Returns
    {"warp": score of the warp alone, "best": best score, "steps": steps run}."""
    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    network = WarpRefiner(options.network)
    optimizer = torch.optim.Adam(network.parameters(), lr=options.lr)
    pairs = [(e, i) for e in train_set for i in range(len(e.frames))]
    best = baseline = score(None, model, val_set)
    log(f"validation MS-SSIM of the warp alone: {baseline:.4f}")
    start, step = time.monotonic(), 0
    while time.monotonic() - start < options.minutes * 60:
        network.train()
        keys, frames, dense, warped = _batch(rng.sample(pairs, options.batch), model)
        rebuilt = network(warped, keys, dense)
        loss = (rebuilt - frames).abs().mean() + structural(rebuilt.clamp(0, 1), frames)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if step % options.eval_every == 0:
            network.eval()
            now = score(network, model, val_set)
            log(f"step {step}  loss {loss.item():.4f}  val MS-SSIM {now:.4f}  (best {best:.4f}, "
                f"warp {baseline:.4f})  {(time.monotonic() - start) / step:.2f} s/step")
            if now > best:
                best = now
                _write(model, network, out, {"steps": step, "val_msssim": round(now, 5),
                                             "warp_val_msssim": round(baseline, 5)}, force)
                force = True  # the file is ours now
    return {"warp": baseline, "best": best, "steps": step}


def _write(model: FlowMotion, network: WarpRefiner, out: Path, training: dict,
           force: bool) -> None:
    config = replace(model.config, refiner=network.cfg)
    extra = {k: v for k, v in model.metadata.items() if k.startswith("imfcodec.training")}
    extra["imfcodec.refiner_training"] = training
    write_bytes(out, serialize(model.dictionary, config, model.name, extra, refiner=network), force=force)

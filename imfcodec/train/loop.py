"""The training loop: reads top to bottom; checkpoints carry config, step and optimizer state.

One command for every device: CPU, one CUDA GPU (bf16 autocast), or several GPUs through
torchrun (DistributedDataParallel; each rank draws its own batches of ``batch`` pairs).
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel

from ..codec import EncodeOptions, StreamDecoder, encode_to_stream
from ..errors import ModelError
from ..io.reader import probe, read_frames
from ..metrics import clip_quality
from ..models import IMF, IMFConfig, preset
from ..models.imf import extended
from ..models import weights as wts
from ..models.weights import LoadedModel
from ..quality import LEVELS
from .data import find_clips, load_clips, pair_batches
from .discriminator import MultiScaleDiscriminator, hinge_d_loss, hinge_g_loss
from .losses import perceptual_substitute, rate_proxy
from .watch import TokenCollapseWatch


@dataclass
class TrainOptions:
    data: str
    out: str
    val: str | None = None
    preset: str = "small"
    init: str | None = None  # start a fresh run from these weights (a shipped name or a file)
    steps: int = 100000
    batch: int = 8  # pairs per step on each rank
    lr: float = 2e-4
    lr_schedule: str = "constant"  # or "cosine": down to 0 at `steps` (for a run of known length)
    ema: float = 0.999  # decay of the weights' moving average (0: off); validated and shipped
    l1_weight: float = 10.0
    perceptual_weight: float = 10.0
    rate_weight: float = 0.05
    rate_start: int = 2000  # the rate term ramps in over rate_start..2*rate_start steps
    noise_start: int = 2000  # quantisation noise ramps in likewise, once the token is in use
    gan_weight: float = 1.0
    gan_start: int = 10000  # reconstruction-only warm-up before the hinge GAN starts
    disc_width: int = 64
    vgg_weights: str | None = None  # VGG-19 features as safetensors; else the substitute
    eval_every: int = 500
    save_every: int = 100
    val_frames: int = 50  # frames of each val clip coded by the real codec at each evaluation
    val_qualities: tuple[int, ...] = (0, 3)
    max_frames: int | None = None  # per training clip, to bound memory
    far_pairs: float = 0.0  # share of pairs at a uniform distance (else log-uniform, <= 250)
    coarse_pixels: bool = False  # add the config's coarse_pixels to the initial model
    threads: int | None = None
    workers: int = 0  # data-loading processes (0: in the training process)
    max_minutes: float | None = None  # stop (with a checkpoint) after this much wall time
    device: str = "auto"
    seed: int = 0
    name: str = "imf-small"


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def lr_at(step: int, base: float, warmup: int = 100, schedule: str = "constant",
          total: int | None = None) -> float:
    """A linear warm-up over ``warmup`` steps, then ``base`` ("constant") or a half cosine
    from ``base`` down to 0 at step ``total`` ("cosine")."""
    scale = min(1.0, (step + 1) / warmup)
    if schedule == "cosine" and total:
        scale *= 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    return base * scale


def ramp(step: int, start: int) -> float:
    """0 before ``start``, then linearly to 1 at ``2 * start``."""
    if start <= 0:
        return 1.0
    return min(1.0, max(0.0, (step - start) / start))


class WeightAverage:
    """An exponential moving average of the model's weights (as in StyleGAN's generator).

    Single steps swing the validation score by a few hundredths of MS-SSIM; the average
    follows the trend instead, so it is what is validated, kept as best and exported. The
    decay warms up as (1 + step) / (10 + step) so that a young average is not mostly its
    random start.
    """

    def __init__(self, model: IMF, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: IMF, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p.detach(), 1.0 - d)
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)


def setup_device(name: str) -> Distributed:
    """torchrun sets WORLD_SIZE / RANK / LOCAL_RANK; a plain run is one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() and name in ("auto", "cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available")
    if world > 1:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        return Distributed(dist.get_rank(), world, device)
    return Distributed(0, 1, torch.device("cuda" if cuda else "cpu"))


# --- checkpoints -----------------------------------------------------------------------


def _flat_optimizer_state(opt: torch.optim.Optimizer) -> dict:
    flat = {}
    for pid, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            flat[f"{pid}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return flat


def _restore_optimizer(opt: torch.optim.Optimizer, flat: dict) -> None:
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
    save_file(_flat_optimizer_state(opt), str(tmp / "optimizer.safetensors"))
    save_file({k: v.detach().cpu().contiguous() for k, v in disc.state_dict().items()},
              str(tmp / "discriminator.safetensors"))
    save_file(_flat_optimizer_state(disc_opt), str(tmp / "disc_optimizer.safetensors"))
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


# --- evaluation ------------------------------------------------------------------------


@dataclass
class ValClip:
    name: str
    frames: list
    fps: Fraction


def load_val(root: str, size: int, frames: int) -> list[ValClip]:
    clips = []
    for path in find_clips(root):
        picked = []
        for frame in read_frames(path, size):
            picked.append(frame)
            if len(picked) >= frames:
                break
        if len(picked) >= 2:
            clips.append(ValClip(path.name, picked, probe(path).fps))
    return clips


@torch.no_grad()
def evaluate(model: IMF, clips: list[ValClip], qualities: tuple[int, ...]) -> dict:
    """Each val clip through the real codec (encode to bytes, decode) at each quality level:
    kbps from the bytes, PSNR / MS-SSIM of the decoded frames, bits per predicted frame, and
    the MS-SSIM of showing the decoded key frame throughout (the floor to beat)."""
    was_training = model.training
    model.eval()
    loaded = LoadedModel("eval", bytes(16), model, {})
    out = {}
    for q in qualities:
        rows = []
        for clip in clips:
            buf = io.BytesIO()
            size = (clip.frames[0].shape[1], clip.frames[0].shape[0])
            # key frame first (one pass), so that the key-frame-only floor is decoded[0] and
            # validations stay comparable with runs logged before key placement
            result = encode_to_stream(clip.frames, buf, loaded,
                                      EncodeOptions(quality=q, key_placement="start"), clip.fps, size)
            buf.seek(0)
            decoded = list(StreamDecoder(buf, lambda h: loaded).frames())
            quality = clip_quality(clip.frames, decoded)
            floor = clip_quality(clip.frames, [decoded[0]] * len(decoded))
            inter = result.frames - result.key_frames
            rows.append((result.kbps, quality["psnr"], quality["msssim"], floor["msssim"],
                         result.bytes_tokens * 8 / max(1, inter)))
        mean = np.mean(rows, axis=0)
        out.update({f"val_q{q}_kbps": float(mean[0]), f"val_q{q}_psnr": float(mean[1]),
                    f"val_q{q}_msssim": float(mean[2]), f"val_q{q}_key_only_msssim": float(mean[3]),
                    f"val_q{q}_bits_per_frame": float(mean[4])})
    model.train(was_training)
    return out


# --- the loop --------------------------------------------------------------------------


def train(options: TrainOptions, resume: bool = False, log: Callable = print,
          on_step: Callable[[int, dict], None] | None = None) -> Path:
    if options.threads:
        torch.set_num_threads(options.threads)
    env = setup_device(options.device)
    device, cuda = env.device, env.device.type == "cuda"
    if not env.main:
        log = lambda *args, **kwargs: None  # noqa: E731 - only rank 0 speaks
    torch.manual_seed(options.seed + env.rank)
    out = Path(options.out)
    ckpt = out / "ckpt"
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
    disc = MultiScaleDiscriminator(options.disc_width).to(device)
    step, flat_opt, flat_disc_opt, disc_state, ema_model = 0, None, {}, None, None
    if resume and ckpt.exists():
        model, flat_opt, disc_state, flat_disc_opt, step, ema_model = load_checkpoint(ckpt, device)
        if disc_state is not None:
            disc.load_state_dict(disc_state)
        log(f"resumed from {ckpt} at step {step}")
    elif options.init:
        # Fine-tuning: the weights (and so the config) come from a trained model; the
        # optimizer, the discriminator and the step count start fresh.
        loaded = wts.load(options.init, str(device))
        model = loaded.model
        options = replace(options, name=loaded.name, preset=loaded.model.cfg.name)
        log(f"initialised from {options.init} ({loaded.name}, digest {loaded.digest.hex()})")
    else:
        model = IMF(preset(options.preset)).to(device)
    if options.coarse_pixels and not model.cfg.coarse_pixels:
        if not model.cfg.pixel_values:
            raise ModelError(f"--coarse-pixels needs a model with pixel values "
                             f"({model.cfg.name} has none; the small preset has them)")
        model = extended(model, coarse_pixels=True)
        log("added coarse pixels (docs/model-card.md): the blend starts at zero")
    cfg: IMFConfig = model.cfg
    ema = WeightAverage(model, options.ema) if options.ema > 0 else None
    if ema is not None and ema_model is not None:
        ema.model.load_state_dict(ema_model.state_dict())
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=options.lr, betas=(0.5, 0.999))
    disc_opt = torch.optim.Adam(disc.parameters(), lr=options.lr, betas=(0.5, 0.999))
    if flat_opt:
        _restore_optimizer(opt, flat_opt)
    if flat_disc_opt:
        _restore_optimizer(disc_opt, flat_disc_opt)
    net, dnet = model, disc
    if env.world > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
        dnet = DistributedDataParallel(disc, device_ids=[device.index] if cuda else None)

    perceptual = perceptual_substitute
    if options.vgg_weights:
        from .vgg import VGGPerceptual

        perceptual = VGGPerceptual(options.vgg_weights).to(device)

    clips = load_clips(options.data, cfg.image_size, options.max_frames)
    log(f"{len(clips)} training clips, {sum(len(c) for c in clips)} frames; device {device}, "
        f"{env.world} process(es), batch {options.batch} per process")
    batches = pair_batches(clips, options.batch, options.seed + 1000 * env.rank + step,
                           options.workers, pin=cuda, far=options.far_pairs)
    val = load_val(options.val, cfg.image_size, options.val_frames) if options.val and env.main else []
    steps_q = torch.tensor([lv.token_step for lv in LEVELS])
    best_file = out / "best.json"
    best = json.loads(best_file.read_text()).get("score", -1.0) if best_file.exists() else -1.0
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)

    log_file = open(out / "log.jsonl", "a") if env.main else None
    if val and options.init and step == 0 and options.eval_every:
        # The starting point, measured the same way: best.safetensors then only ever holds
        # weights that beat the model the run started from.
        entry = {"step": 0, **evaluate(ema.model if ema is not None else model, val,
                                       options.val_qualities)}
        best = max(best, entry[f"val_q{max(options.val_qualities)}_msssim"])
        best_file.write_text(json.dumps({"score": best, "init": options.init, **entry}))
        log(entry)
        log_file.write(json.dumps(entry) + "\n")
    started, skipped = time.time(), 0
    collapse = TokenCollapseWatch()
    try:
        while step < options.steps:
            if options.max_minutes and time.time() - started > 60 * options.max_minutes:
                log(f"--max-minutes {options.max_minutes:g} reached at step {step}")
                if env.main:
                    save_checkpoint(ckpt, step, options, model, opt, disc, disc_opt, ema)
                break
            t0 = time.time()
            ref, cur = (t.to(device, non_blocking=True) for t in next(batches))
            step_sizes = steps_q[torch.randint(len(steps_q), (options.batch,))].to(device)
            noise = (torch.rand(options.batch, cfg.token_dim, device=device) - 0.5) * step_sizes[:, None]
            noise = noise * ramp(step, options.noise_start)
            for group in opt.param_groups + disc_opt.param_groups:
                group["lr"] = lr_at(step, options.lr, schedule=options.lr_schedule,
                                    total=options.steps)
            gan_on = step >= options.gan_start and options.gan_weight > 0

            with autocast:
                out_img, t_cur, t_ref = net(ref, cur, noise)
            out_img = out_img.float()
            l1 = (out_img - cur).abs().mean()
            perc = perceptual(out_img, cur)
            rate = rate_proxy(t_cur.float(), t_ref.detach().float(), model.token_scale, step_sizes)
            loss = (options.l1_weight * l1 + options.perceptual_weight * perc
                    + options.rate_weight * ramp(step, options.rate_start) * rate)
            g_gan = torch.zeros((), device=device)
            if gan_on:
                with autocast:
                    g_gan = hinge_g_loss([s.float() for s in dnet(out_img)])
                loss = loss + options.gan_weight * g_gan
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
                # A non-finite loss or gradient (bf16 overflow, say) would poison the weights
                # and the optimizer state: skip the update, count it, and stop if it persists.
                skipped += 1
                if skipped > 50:
                    raise RuntimeError(f"{skipped} non-finite steps in a row at step {step}")
                continue
            skipped = 0
            opt.step()
            if ema is not None:
                ema.update(model, step)

            d_loss = torch.zeros((), device=device)
            if gan_on:
                with autocast:
                    real = [s.float() for s in dnet(cur)]
                    fake = [s.float() for s in dnet(out_img.detach())]
                d_loss = hinge_d_loss(real, fake)
                disc_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                disc_opt.step()

            step += 1
            if not env.main:
                continue
            entry = {"step": step, "loss": loss.item(), "l1": l1.item(), "perceptual": perc.item(),
                     "rate_bits": rate.item(), "g_gan": g_gan.item(), "d_loss": d_loss.item(),
                     "sec": round(time.time() - t0, 3), "grad_norm": float(grad_norm)}
            warning = collapse.update(step, entry["rate_bits"])
            if warning:
                log(warning)
                entry["warning"] = "token_collapse"
            if val and options.eval_every and (step % options.eval_every == 0 or step == options.steps):
                shipped = ema.model if ema is not None else model
                entry.update(evaluate(shipped, val, options.val_qualities))
                score = entry[f"val_q{max(options.val_qualities)}_msssim"]
                if score > best:
                    best = score
                    (out / "best.safetensors").write_bytes(wts.serialize(shipped, options.name))
                    best_file.write_text(json.dumps({"score": score, **entry}))
                log({k: v for k, v in entry.items() if k.startswith("val") or k == "step"})
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()
            if on_step:
                on_step(step, entry)
            if step % options.save_every == 0 or step == options.steps:
                save_checkpoint(ckpt, step, options, model, opt, disc, disc_opt, ema)
    finally:
        if log_file:
            log_file.close()
        if env.world > 1:
            dist.destroy_process_group()
    return ckpt


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

"""The training loop: reads top to bottom; checkpoints carry config, step and optimizer state.

One command for every device: CPU, one CUDA GPU (bf16 autocast), or several GPUs through
torchrun (DistributedDataParallel; each rank draws its own batches of ``batch`` pairs).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .. import device as devices
from ..errors import ModelError, OutputError
from ..levels import LEVELS
from ..models import IMF, preset
from ..models import weights as wts
from ..models.imf import extended
from .average import WeightAverage
from .checkpoint import export, load_checkpoint, restore_optimizer, save_checkpoint
from .data import load_clips, pair_batches
from .discriminator import MultiScaleDiscriminator, hinge_d_loss, hinge_g_loss
from .evaluate import evaluate, load_val
from .losses import perceptual_substitute, rate_proxy
from .options import TrainOptions
from .watch import TokenCollapseWatch

__all__ = ["TrainOptions", "WeightAverage", "export", "lr_at", "ramp", "train"]


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


def setup_device(name: str) -> Distributed:
    """torchrun sets WORLD_SIZE / RANK / LOCAL_RANK; a plain run is one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = devices.resolve(name).startswith("cuda")  # DeviceError for cuda without CUDA
    if world > 1:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        return Distributed(dist.get_rank(), world, device)
    return Distributed(0, 1, torch.device("cuda" if cuda else "cpu"))




# --- the loop --------------------------------------------------------------------------


@dataclass
class Run:
    """Everything a training run holds: the options, the networks, their optimizers, and the
    step and best validation score reached."""

    options: TrainOptions
    env: Distributed
    model: IMF
    ema: WeightAverage | None
    opt: torch.optim.Optimizer
    disc: torch.nn.Module
    disc_opt: torch.optim.Optimizer
    step: int = 0
    best: float = -1.0

    @property
    def shipped(self) -> IMF:
        """The weights that are validated, kept as best and exported."""
        return self.ema.model if self.ema is not None else self.model

    def save(self) -> None:
        save_checkpoint(Path(self.options.out) / "ckpt", self.step, self.options, self.model,
                        self.opt, self.disc, self.disc_opt, self.ema)


def _starting_model(options: TrainOptions, device: torch.device, resume: bool,
                    log: Callable) -> tuple[IMF, TrainOptions, tuple]:
    """The model a run starts from (its checkpoint, --init weights, or a fresh preset), the
    options (--init replaces the preset), and a resumed run's saved state."""
    ckpt = Path(options.out) / "ckpt"
    saved: tuple = (None, None, {}, 0, None)  # optimizer, disc, disc optimizer, step, ema
    if resume and ckpt.exists():
        model, flat_opt, disc_state, flat_disc_opt, step, ema_model = load_checkpoint(ckpt, device)
        saved = (flat_opt, disc_state, flat_disc_opt, step, ema_model)
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
    return model, options, saved


def _build_run(options: TrainOptions, env: Distributed, resume: bool, log: Callable) -> Run:
    """Networks, weight average and optimizers, restored from a checkpoint when resuming."""
    disc = MultiScaleDiscriminator(options.disc_width).to(env.device)
    model, options, (flat_opt, disc_state, flat_disc_opt, step, ema_model) = \
        _starting_model(options, env.device, resume, log)
    if disc_state is not None:
        disc.load_state_dict(disc_state)
    ema = WeightAverage(model, options.ema) if options.ema > 0 else None
    if ema is not None and ema_model is not None:
        ema.model.load_state_dict(ema_model.state_dict())
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=options.lr, betas=(0.5, 0.999))
    disc_opt = torch.optim.Adam(disc.parameters(), lr=options.lr, betas=(0.5, 0.999))
    if flat_opt:
        restore_optimizer(opt, flat_opt)
    if flat_disc_opt:
        restore_optimizer(disc_opt, flat_disc_opt)
    best_file = Path(options.out) / "best.json"
    best = json.loads(best_file.read_text()).get("score", -1.0) if best_file.exists() else -1.0
    return Run(options, env, model, ema, opt, disc, disc_opt, step, best)


def _wrapped(run: Run) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The networks as the step runs them: DistributedDataParallel under torchrun."""
    if run.env.world == 1:
        return run.model, run.disc
    ids = [run.env.device.index] if run.env.device.type == "cuda" else None
    return (DistributedDataParallel(run.model, device_ids=ids),
            DistributedDataParallel(run.disc, device_ids=ids))


class Step:
    """One optimisation step of generator and discriminator: ``__call__`` returns the log
    entry's losses, or None when the step was skipped for a non-finite loss."""

    def __init__(self, run: Run) -> None:
        options, device = run.options, run.env.device
        self.run = run
        self.net, self.dnet = _wrapped(run)
        self.perceptual = perceptual_substitute
        if options.vgg_weights:
            from .vgg import VGGPerceptual

            self.perceptual = VGGPerceptual(options.vgg_weights).to(device)
        self.steps_q = torch.tensor([lv.token_step for lv in LEVELS])
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
        self.skipped = 0  # non-finite steps in a row

    def _generator_loss(self, ref: torch.Tensor, cur: torch.Tensor, gan_on: bool):
        run, o, device = self.run, self.run.options, self.run.env.device
        step_sizes = self.steps_q[torch.randint(len(self.steps_q), (o.batch,))].to(device)
        noise = (torch.rand(o.batch, run.model.cfg.token_dim, device=device) - 0.5) * step_sizes[:, None]
        noise = noise * ramp(run.step, o.noise_start)
        with self.autocast:
            out_img, t_cur, t_ref = self.net(ref, cur, noise)
        out_img = out_img.float()
        l1 = (out_img - cur).abs().mean()
        perc = self.perceptual(out_img, cur)
        rate = rate_proxy(t_cur.float(), t_ref.detach().float(), run.model.token_scale, step_sizes)
        loss = (o.l1_weight * l1 + o.perceptual_weight * perc
                + o.rate_weight * ramp(run.step, o.rate_start) * rate)
        g_gan = torch.zeros((), device=device)
        if gan_on:
            with self.autocast:
                g_gan = hinge_g_loss([s.float() for s in self.dnet(out_img)])
            loss = loss + o.gan_weight * g_gan
        return out_img, {"loss": loss, "l1": l1, "perceptual": perc, "rate_bits": rate, "g_gan": g_gan}

    def _discriminator(self, cur: torch.Tensor, out_img: torch.Tensor) -> torch.Tensor:
        with self.autocast:
            real = [s.float() for s in self.dnet(cur)]
            fake = [s.float() for s in self.dnet(out_img.detach())]
        d_loss = hinge_d_loss(real, fake)
        self.run.disc_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.run.disc_opt.step()
        return d_loss

    def __call__(self, ref: torch.Tensor, cur: torch.Tensor) -> dict | None:
        run, o = self.run, self.run.options
        for group in run.opt.param_groups + run.disc_opt.param_groups:
            group["lr"] = lr_at(run.step, o.lr, schedule=o.lr_schedule, total=o.steps)
        gan_on = run.step >= o.gan_start and o.gan_weight > 0
        out_img, losses = self._generator_loss(ref, cur, gan_on)
        run.opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
        if not (torch.isfinite(losses["loss"]) and torch.isfinite(grad_norm)):
            # A non-finite loss or gradient (bf16 overflow, say) would poison the weights
            # and the optimizer state: skip the update, count it, and stop if it persists.
            self.skipped += 1
            if self.skipped > 50:
                raise RuntimeError(f"{self.skipped} non-finite steps in a row at step {run.step}")
            return None
        self.skipped = 0
        run.opt.step()
        if run.ema is not None:
            run.ema.update(run.model, run.step)
        d_loss = self._discriminator(cur, out_img) if gan_on else torch.zeros(())
        run.step += 1
        return {**{k: v.item() for k, v in losses.items()}, "d_loss": d_loss.item(),
                "grad_norm": float(grad_norm)}


def _validate(run: Run, val: list, entry: dict) -> None:
    """Adds the val numbers to ``entry``; keeps the shipped weights as best when they beat
    the best score so far."""
    out = Path(run.options.out)
    entry.update(evaluate(run.shipped, val, run.options.val_qualities))
    score = entry[f"val_q{max(run.options.val_qualities)}_msssim"]
    if score > run.best:
        run.best = score
        (out / "best.safetensors").write_bytes(wts.serialize(run.shipped, run.options.name))
        (out / "best.json").write_text(json.dumps({"score": score, **entry}))


def _measure_start(run: Run, val: list, log: Callable, log_file) -> None:
    """A fine-tune measures its starting point first, the same way: best.safetensors then
    only ever holds weights that beat the model the run started from."""
    o = run.options
    entry = {"step": 0, **evaluate(run.shipped, val, o.val_qualities)}
    run.best = max(run.best, entry[f"val_q{max(o.val_qualities)}_msssim"])
    (Path(o.out) / "best.json").write_text(json.dumps({"score": run.best, "init": o.init, **entry}))
    log(entry)
    log_file.write(json.dumps(entry) + "\n")


def _prepare(options: TrainOptions) -> Distributed:
    """Threads, device and process group, seed, and the run folder (rank 0 makes it)."""
    if options.threads:
        torch.set_num_threads(options.threads)
    env = setup_device(options.device)
    torch.manual_seed(options.seed + env.rank)
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder; give --out a folder for the run")
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
    return env


def train(options: TrainOptions, resume: bool = False, log: Callable = print,
          on_step: Callable[[int, dict], None] | None = None) -> Path:
    """Runs training to ``options.steps``; a run that fails before writing anything leaves no
    --out folder behind."""
    out = Path(options.out)
    created = not out.exists()
    try:
        return _train(options, resume, log, on_step)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _train(options: TrainOptions, resume: bool, log: Callable,
           on_step: Callable[[int, dict], None] | None) -> Path:
    env = _prepare(options)
    if not env.main:
        log = lambda *args, **kwargs: None  # noqa: E731 - only rank 0 speaks
    run = _build_run(options, env, resume, log)
    step_once = Step(run)
    o, device, cuda = run.options, env.device, env.device.type == "cuda"
    clips = load_clips(o.data, run.model.cfg.image_size, o.max_frames)
    log(f"{len(clips)} training clips, {sum(len(c) for c in clips)} frames; device {device}, "
        f"{env.world} process(es), batch {o.batch} per process")
    batches = pair_batches(clips, o.batch, o.seed + 1000 * env.rank + run.step, o.workers,
                           pin=cuda, far=o.far_pairs)
    val = load_val(o.val, run.model.cfg.image_size, o.val_frames) if o.val and env.main else []
    log_file = open(Path(o.out) / "log.jsonl", "a") if env.main else None
    if val and o.init and run.step == 0 and o.eval_every:
        _measure_start(run, val, log, log_file)
    collapse, started = TokenCollapseWatch(), time.time()
    try:
        while run.step < o.steps:
            if o.max_minutes and time.time() - started > 60 * o.max_minutes:
                log(f"--max-minutes {o.max_minutes:g} reached at step {run.step}")
                if env.main:
                    run.save()
                break
            t0 = time.time()
            ref, cur = (t.to(device, non_blocking=True) for t in next(batches))
            losses = step_once(ref, cur)
            if losses is None or not env.main:
                continue
            entry = {"step": run.step, **losses, "sec": round(time.time() - t0, 3)}
            warning = collapse.update(run.step, entry["rate_bits"])
            if warning:
                log(warning)
                entry["warning"] = "token_collapse"
            if val and o.eval_every and (run.step % o.eval_every == 0 or run.step == o.steps):
                _validate(run, val, entry)
                log({k: v for k, v in entry.items() if k.startswith("val") or k == "step"})
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()
            if on_step:
                on_step(run.step, entry)
            if run.step % o.save_every == 0 or run.step == o.steps:
                run.save()
    finally:
        if log_file:
            log_file.close()
        if env.world > 1:
            dist.destroy_process_group()
    return Path(o.out) / "ckpt"

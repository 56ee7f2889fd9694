"""The training commands of the command line: `imfcodec train`, `export`, `dictionary` and
`train-refiner` (loaded by cli/app.py when used; here, so that only imfcodec/train/ imports the
training code)."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli.common import options_of
from ..errors import InputError


def train_options(command):
    """Every command-line field of train/options.TrainOptions."""
    from .options import TrainOptions

    return options_of(TrainOptions)(command)


@click.command()
@train_options
@click.option("--resume", is_flag=True, help="Continue from OUT/ckpt if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(resume, quiet, **chosen):
    """Train an IMF model (the same command on a CPU, a GPU, or torchrun's many GPUs)."""
    from ..console import console, training_bar
    from .loop import train as run_training
    from .options import TrainOptions

    options = TrainOptions(**chosen, name=f"imf-{chosen['preset']}")

    def log(entry) -> None:
        if isinstance(entry, dict):
            entry = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in entry.items())
        console.print(entry)

    with training_bar(options.steps, enabled=not quiet) as on_step:
        run_training(options, resume=resume, log=log, on_step=on_step)


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "target", required=True, type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Model name to store (default: the checkpoint's).")
@click.option("--force", "-f", is_flag=True)
def export(checkpoint, target, name, force):
    """Strip training state from CHECKPOINT: fp16 weights and config for shipping."""
    from ..console import console
    from ..io.atomic import atomic_path
    from .checkpoint import export as export_weights

    with atomic_path(target, force) as tmp:
        export_weights(checkpoint, tmp, name)
    console.print(f"wrote {target} ({target.stat().st_size} bytes)")


@click.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "target", required=True, type=click.Path(path_type=Path),
              help="The flow model's weights file (.safetensors) to write.")
@click.option("--directions", type=click.IntRange(1, 512), default=64, show_default=True,
              help="Principal directions kept: the numbers in each frame's token.")
@click.option("--grid", type=click.IntRange(2), default=32, show_default=True,
              help="Flows are averaged on a GRID x GRID grid (a divisor of the image size).")
@click.option("--pairs-per-clip", type=click.IntRange(1), default=160, show_default=True)
@click.option("--preset", type=click.Choice(["ultrafast", "fast", "medium"]), default="medium",
              show_default=True, help="DIS optical flow preset, for the build and the encoder.")
@click.option("--token-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="The quantiser's unit at token step 1, in pixels (RMS).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--name", default="imf-flow", show_default=True, help="Model name to store.")
@click.option("--force", "-f", is_flag=True)
def dictionary(data, target, directions, grid, pairs_per_clip, preset, token_scale, seed, name, force):
    """Build a flow model (a motion dictionary: principal directions of DIS flows) from the
    clips in DATA. Closed form: minutes on one CPU core, no GPU."""
    from ..console import console, progress_bar
    from ..io.atomic import check_target, write_bytes
    from ..motion.flow import FlowConfig
    from .dictionary import DictionaryOptions, build, clips_in

    check_target(target, force)
    try:
        config = FlowConfig(grid=grid, directions=directions, token_scale=token_scale, preset=preset)
    except ValueError as exc:
        raise InputError(f"--grid: {exc}") from None
    paths = clips_in(data)
    with progress_bar("dictionary", len(paths), unit="clips") as bar:
        data_bytes = build(paths, DictionaryOptions(config, pairs_per_clip, seed, name), bar)
    write_bytes(target, data_bytes, force)
    console.print(f"wrote {target} ({len(data_bytes)} bytes)")


@click.command("train-refiner")
@click.argument("model_name", metavar="MODEL")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Training clips.")
@click.option("--val", required=True, type=click.Path(path_type=Path), help="Held-out clips.")
@click.option("--out", "target", required=True, type=click.Path(path_type=Path),
              help="The flow model with its correction network (written when validation improves).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=8, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--eval-every", type=click.IntRange(1), default=200, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None, help="CPU threads for torch.")
@click.option("--force", "-f", is_flag=True)
def train_refiner(model_name, data, val, target, minutes, batch, lr, eval_every, threads, force):
    """Train the correction network of a flow MODEL (teacher-forced coefficients; CPU-sized)."""
    from ..console import console, progress_bar
    from ..errors import ModelError
    from ..io.atomic import check_target
    from ..motion import load
    from ..motion.flow import FlowMotion
    from . import refiner
    from .dictionary import clips_in

    check_target(target, force)
    if threads:
        from ..device import use_threads

        use_threads(threads)
    model = load(model_name)
    if not isinstance(model, FlowMotion):
        raise ModelError(f"{model.name} is not a flow model; only flow models have a correction network")
    options = refiner.RefinerOptions(minutes=minutes, batch=batch, lr=lr, eval_every=eval_every)
    sets = []
    for folder, keys in ((data, options.keys_per_clip), (val, 2)):
        paths = clips_in(folder)
        with progress_bar(f"examples {folder.name}", len(paths), unit="clips") as bar:
            sets.append(refiner.examples(model, paths, keys, options.frames_per_key, options.seed, bar))
    result = refiner.train(model, sets[0], sets[1], target, options, console.print, force=force)
    if result["best"] > result["warp"]:
        console.print(f"wrote {target}: validation MS-SSIM {result['best']:.4f} "
                      f"(the warp alone: {result['warp']:.4f}) after {result['steps']} steps")
    else:
        console.print(f"validation never beat the warp alone ({result['warp']:.4f}); nothing written")

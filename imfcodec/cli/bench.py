"""`imfcodec bench`: rate against quality of imfcodec and the conventional codecs."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import IMFError, OutputError
from .common import device_option, emit_json, encode_options, threads_option


@click.command()
@click.argument("clips", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for results.json/.csv, bd_rate.json, rd_<metric>.png, per_clip/.")
@click.option("--codecs", default="static,imf,imf-adaptive,x264,x265,svtav1", show_default=True,
              help="Comma-separated: static (the key frames alone), imf, imf-adaptive, x264, "
                   "x265, svtav1.")
@click.option("--qualities", default=None,
              help="imfcodec settings, e.g. 0,2,4: quality levels 0..7, and -4..-1 for the "
                   "coarser settings --bitrate reaches (default: 0..7).")
@click.option("--frames", type=click.IntRange(1), default=None, help="Code only the first N frames.")
@click.option("--model", "model_name", default=None,
              help="Shipped model name or .safetensors path; several, comma-separated, are "
                   "measured side by side (rows named by model: imf-flow, imf-flow-adaptive).")
@encode_options("refine", "key_placement")
@click.option("--references", "references", default="1", show_default=True,
              help="As encode's --references, for the imf-adaptive rows; several, comma-"
                   "separated (1,4), are measured side by side (rows imf-adaptive, "
                   "imf-adaptive-r4, and the BD-rate of each against the one before).")
@click.option("--svtav1-sizes", default="1,2,3,4", show_default=True,
              help="SVT-AV1 is also coded with each side divided by these (1: full size), scaled "
                   "back up with Lanczos; rows svtav1@1/2 ..., and their upper envelope "
                   "svtav1-best, the anchor of a user who picks the best size.")
@click.option("--no-vmaf", is_flag=True, help="PSNR and MS-SSIM only (VMAF takes the most time).")
@device_option
@threads_option
@click.option("--force", "-f", is_flag=True, help="Replace OUT if it holds an earlier bench.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the results as one JSON object (every row, with its per-frame values).")
def bench(clips, out_dir, codecs, qualities, frames, model_name, refine, key_placement,
          references, svtav1_sizes, no_vmaf, device, force, as_json):
    """Rate against PSNR, MS-SSIM, VMAF and VMAF-NEG for imfcodec and x264, x265, SVT-AV1 (at
    several sizes) on CLIPS, with BD-rates."""
    from ..bench import rd, results
    from ..codec import Codec
    from ..console import console
    from ..io.atomic import atomic_path, check_target
    from ..source import Source

    names, settings = rd.parse_codecs(codecs), rd.parse_settings(qualities)
    references = rd.parse_references(references)
    divisors = rd.parse_divisors(svtav1_sizes)
    # The output and every input are checked before any work (a bench runs for many minutes).
    check_target(out_dir, force)
    if out_dir.exists() and not (out_dir.is_dir() and results.ours(out_dir)):
        raise OutputError(f"{out_dir} exists and is not an imfcodec output folder; not replacing it")
    sources = [Source.open(clip) for clip in clips]
    wanted = [m.strip() for m in (model_name or "").split(",") if m.strip()] or [None]
    models = [Codec.load(m, device) for m in wanted] if set(names) & set(rd.IMF_MODES) else []
    say = (lambda m: None) if as_json else console.print
    rows = rd.run(sources, names, models, settings, frames, say, refine, key_placement,
                  references, divisors, not no_vmaf)
    if not rows:
        raise IMFError("nothing was measured")
    with atomic_path(out_dir, force, directory=True, replaceable=results.ours) as tmp:
        measured = [{"name": c.model.name, "digest": c.model.digest.hex()} for c in models]
        summary = results.write(rows, tmp, measured, refine, key_placement,
                                rd.our_labels(names, models, references), references)
    if as_json:
        emit_json(summary | {"out": str(out_dir)})
    else:
        results.render(summary)
        plots = ", ".join(f"rd_{m}.png" for m in results.plotted(summary["mean_curves"]))
        console.print(f"wrote {out_dir}/: results.json, results.csv, bd_rate.json, {plots}, per_clip/")

"""`imfcodec info` (what an .imf file holds) and `imfcodec compare` (two videos measured
frame by frame)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit_json


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(source, as_json):
    """Show the header of an .imf file, its key frames, and where the bytes went."""
    from ..info import describe, render

    data = describe(source)
    if as_json:
        emit_json(data)
    else:
        render(data)


@click.command()
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("test", type=click.Path(path_type=Path))
@click.option("--frames", type=click.IntRange(1), default=None, help="Compare only the first N frames.")
@click.option("--no-vmaf", is_flag=True, help="PSNR and MS-SSIM only (VMAF takes the most time).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object, with every frame's value of every metric.")
def compare(reference, test, frames, no_vmaf, as_json):
    """Measure TEST against REFERENCE frame by frame: PSNR, MS-SSIM, VMAF and VMAF-NEG."""
    from ..compare import compare as measure
    from ..compare import render

    data = measure(reference, test, vmaf=not no_vmaf, frames=frames)
    if as_json:
        emit_json(data)
    else:
        render(data)

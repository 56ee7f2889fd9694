"""Two videos compared frame by frame, as `imfcodec compare` reports them: PSNR, MS-SSIM and,
unless asked not to, VMAF and VMAF-NEG (libvmaf's built-in models), each frame's value and
the clip's mean and lowest.

Both videos are read at their own size, in display order, upright, streamed (a long clip is
never held whole): frames are measured in batches as they come, and VMAF is fed pair by pair.
They must be of one size and hold equally many frames (or ``frames`` limits both).
"""

from __future__ import annotations

from itertools import islice, zip_longest
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .metrics import NAMES, VMAF_MODELS, Vmaf, formatted, msssim_frames, psnr
from .source import Source

BATCH = 16  # frames measured at once by PSNR and MS-SSIM


def _own_size(path: Path) -> Source:
    source = Source.open(path)
    return source.fitted((source.info.width, source.info.height), "crop")


def compare(reference: Path, test: Path, vmaf: bool = True, frames: int | None = None) -> dict:
    """{"reference", "test", "width", "height", "frames", "metrics": {name: {"mean", "min",
    "per_frame"}}, "vmaf_models"}; InputError when the two differ in size or frame count."""
    ref, out = _own_size(reference), _own_size(test)
    if ref.source_size != out.source_size:
        raise InputError(f"{reference} is {ref.source_size[0]}x{ref.source_size[1]} but {test} is "
                         f"{out.source_size[0]}x{out.source_size[1]}; compare videos of one size")
    meter = Vmaf(*ref.source_size) if vmaf else None
    try:
        values = _measured(ref, out, meter, frames, reference, test)
    finally:
        if meter is not None:
            meter.close()
    count = len(values["psnr"])
    return {"reference": str(reference), "test": str(test), "width": ref.source_size[0],
            "height": ref.source_size[1], "frames": count,
            "vmaf_models": VMAF_MODELS if vmaf else {},
            "metrics": {name: {"mean": float(np.mean(v)), "min": float(np.min(v)),
                               "per_frame": [round(float(x), 4) for x in v]}
                        for name, v in values.items()}}


def _measured(ref: Source, out: Source, meter: Vmaf | None, frames: int | None,
              reference: Path, test: Path) -> dict[str, list[float]]:
    """Every frame's value of each metric, the frames streamed in pairs."""
    values: dict[str, list[float]] = {"psnr": [], "msssim": []}
    batch: list[tuple[np.ndarray, np.ndarray]] = []
    ref_frames, test_frames = islice(ref.frames(), frames), islice(out.frames(), frames)
    count = 0
    for r, t in zip_longest(ref_frames, test_frames):
        if r is None or t is None:
            longer = ref_frames if t is None else test_frames
            more = count + 1 + sum(1 for _ in longer)
            counts = (more, count) if t is None else (count, more)
            raise InputError(f"{reference} has {counts[0]} frames but {test} has {counts[1]}; "
                             "compare videos of equal length (or give --frames)")
        count += 1
        batch.append((r, t))
        if meter is not None:
            meter.add(r, t)
        if len(batch) == BATCH:
            _measure(batch, values)
    _measure(batch, values)
    if count == 0:
        raise InputError(f"{reference}: no frames to compare")
    if meter is not None:
        values |= {k: list(v) for k, v in meter.scores().items()}
    return values


def _measure(batch: list, values: dict) -> None:
    """PSNR and MS-SSIM of the pairs in ``batch``, appended to ``values``; empties the batch."""
    if not batch:
        return
    refs, tests = [r for r, _ in batch], [t for _, t in batch]
    with torch.inference_mode():
        values["msssim"] += [float(x) for x in msssim_frames(refs, tests)]
    values["psnr"] += [psnr(r, t) for r, t in batch]
    batch.clear()


def render(data: dict) -> None:
    """The comparison as a table on standard output: each metric's mean and lowest frame."""
    from rich.table import Table

    from .console import stdout as console

    console.print(f"{data['test']} against {data['reference']}: {data['frames']} frames, "
                  f"{data['width']}x{data['height']}", markup=False)
    table = Table()
    for col in ("metric", "mean", "lowest frame"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, value in data["metrics"].items():
        model = f" ({data['vmaf_models'][name]})" if name in data["vmaf_models"] else " (dB)" \
            if name == "psnr" else ""
        table.add_row(NAMES[name] + model, formatted(value["mean"], name),
                      formatted(value["min"], name))
    console.print(table)

"""Key placement: which frame of a run (the frames between two key frames) becomes its key frame.

Every frame of a run is rebuilt from the run's key frame, and the further a frame is from
its reference the worse it comes back (benchmarks/studies/results/val/motion_reach.json). A key frame at the
run's start leaves the run's last frames furthest away; the frame whose picture is nearest
the run's mean picture keeps the whole run closer. The picture is compared as a small grey
thumbnail: the nearest frame to the mean in squared distance is also the one with the least
summed squared distance to all the others (the medoid under that distance), found in one
pass. Measured in docs/keyplace.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bitstream import KeyReason
from .frames import channel_mean

THUMB = 32  # side of the grey thumbnail a frame is compared by


@dataclass
class Run:
    start: int  # first frame
    end: int  # one past the last frame
    key: int  # the frame sent as the key frame, start <= key < end
    reason: KeyReason  # why the run starts there
    coded: tuple[int, bytes] | None = None  # the key frame's record codec and picture


def descriptor(frame: np.ndarray) -> np.ndarray:
    """A frame (H, W, 3 uint8) as a THUMB x THUMB grey thumbnail in [0, 1], flattened."""
    grey = channel_mean(frame) / 255
    h, w = grey.shape
    ys = np.arange(THUMB + 1) * h // THUMB
    xs = np.arange(THUMB + 1) * w // THUMB
    # box means over a THUMB x THUMB grid of cells (any frame size)
    sums = np.add.reduceat(np.add.reduceat(grey, ys[:-1], axis=0), xs[:-1], axis=1)
    area = np.diff(ys)[:, None] * np.diff(xs)[None, :]
    return (sums / area).ravel()


def central_frame(descriptors: list[np.ndarray]) -> int:
    """The position, within the run, of the frame nearest the run's mean thumbnail (the
    earliest of equals)."""
    if not descriptors:
        raise ValueError("a run has at least one frame")
    stack = np.stack(descriptors).astype(np.float64)
    distance = ((stack - stack.mean(axis=0)) ** 2).sum(axis=1)
    return int(np.argmin(distance))


def plan_runs(keys: dict[int, KeyReason], descriptors: list[np.ndarray]) -> list[Run]:
    """Runs from a first pass with each key frame at its run's start: ``keys`` maps each
    start to why it is one, ``descriptors`` holds every frame's thumbnail. Each run's key
    frame moves to its central frame (its picture is coded later, in run order)."""
    starts = sorted(keys)
    ends = starts[1:] + [len(descriptors)]
    return [Run(s, e, s + central_frame(descriptors[s:e]), keys[s]) for s, e in zip(starts, ends)]

"""The picture an encode codes: its output size, and the square region the motion model sees.

By default the output keeps the input's width, height and aspect ratio (after its display
rotation), scaled down to fit 1920x1080 (1080x1920 upright) when it is larger; ``--size WxH``
fits it inside a smaller box instead, and a square box at the model's size (``256x256``) is
the square picture of earlier versions (centre crop or pad, ``--fit``). Key frames are coded
at the output size. The motion model works on one square of the output (the *region*, the
side of the picture's shorter edge, placed where the input moves most), seen at the model's
working size; motion/fullsize.py applies its motion to the whole output picture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import InputError

MAX_BOX = (1920, 1080)  # the largest output: long side, short side
MIN_SIDE = 64  # a shorter side below this is coded as the model's square instead (scaled up)


@dataclass(frozen=True)
class Layout:
    """An output picture and its motion region (x, y, side), in output pixels."""

    width: int
    height: int
    region: tuple[int, int, int]

    @classmethod
    def square(cls, side: int) -> "Layout":
        """The model's own square picture (the layout of every file before version 7.0)."""
        return cls(side, side, (0, 0, side))


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720): the box the output is fitted into (InputError if not WxH)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise InputError(f"--size: cannot read {text!r} (give WIDTHxHEIGHT, e.g. 1280x720)")
    width, height = int(match.group(1)), int(match.group(2))
    if min(width, height) < 16 or max(width, height) > 8192:
        raise InputError(f"--size: {width}x{height} is out of range (16..8192 a side)")
    return width, height


def _even(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def _turned(box: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """A (long, short) box in the orientation of a ``width`` x ``height`` picture."""
    return box if width >= height else box[::-1]


def _scale(width: int, height: int, box: tuple[int, int]) -> float:
    return min(1.0, box[0] / width, box[1] / height)


def _bounding_box(width: int, height: int, box: tuple[int, int] | None,
                  default: tuple[int, int]) -> tuple[int, int]:
    """The box a ``width`` x ``height`` input is fitted into: ``box`` (none given:
    ``default``, long side first, turned to the input's orientation), or MAX_BOX so turned
    where that is tighter."""
    chosen = box if box is not None else _turned(default, width, height)
    cap = _turned(MAX_BOX, width, height)
    return cap if _scale(width, height, cap) < _scale(width, height, chosen) else chosen


def output_size(width: int, height: int, box: tuple[int, int] | None = None,
                default: tuple[int, int] = MAX_BOX) -> tuple[int, int]:
    """The output size of a ``width`` x ``height`` input: its own, or scaled down (aspect
    kept, even sides for 4:2:0) to fit ``box`` (none given: ``default``, long side first,
    turned to the input's orientation), and never over MAX_BOX so turned."""
    scale = _scale(width, height, _bounding_box(width, height, box, default))
    return _even(width * scale), _even(height * scale)


def choose_region(width: int, height: int, motion: np.ndarray | None = None) -> tuple[int, int, int]:
    """The motion region: a square of the picture's shorter side, along the longer side where
    ``motion`` (a map of how much each place moves, any resolution, same aspect) sums
    highest; centred when nothing moves or no map is given."""
    side = min(width, height)
    slack = max(width, height) - side
    if slack == 0 or motion is None or not np.isfinite(motion).all() or motion.sum() <= 0:
        offset = slack // 2
    else:
        along = motion.sum(axis=0 if width > height else 1).astype(np.float64)
        n = len(along)
        window = max(1, round(n * side / max(width, height)))
        sums = np.convolve(along, np.ones(window), mode="valid")
        # the centred square wins ties and near-ties (within 5 %): most clips frame the face there
        centre = (len(sums) - 1) / 2
        best = max(range(len(sums)), key=lambda i: (sums[i] >= 0.95 * sums.max(), -abs(i - centre)))
        offset = min(slack, round(best * max(width, height) / n))
        offset = offset // 2 * 2
    return (offset, 0, side) if width > height else (0, offset, side)


def motion_map(frames: list[np.ndarray]) -> np.ndarray | None:
    """How much each place of a few frames (H, W, 3 uint8, any small size) changes from one
    to the next: the mean absolute grey difference (None for fewer than two frames)."""
    if len(frames) < 2:
        return None
    grey = np.stack([f.astype(np.float32).mean(axis=2) for f in frames])
    return np.abs(np.diff(grey, axis=0)).mean(axis=0)


@dataclass(frozen=True)
class Plan:
    """How an input is read and coded: ``read`` is what the Source reads (a square's side,
    cropped or padded by ``--fit``; or the whole picture's (width, height)), ``layout`` the
    coded picture (its region still centred: choose_region places it once frames are read),
    ``notes`` what the console and ``--json`` say about it."""

    read: int | tuple[int, int]
    layout: Layout
    notes: tuple[str, ...] = ()


def plan(width: int, height: int, model_size: int, size: str | None = None,
         default: tuple[int, int] = MAX_BOX, default_why: str = "") -> Plan:
    """The output of a ``width`` x ``height`` input (as displayed) for a model working at
    ``model_size``: its own size by default (scaled down to fit ``default``, 1920x1080 for a
    file, in the input's orientation), fitted into ``size`` ('WxH') when given, never over
    MAX_BOX; a square ``size`` is a square picture (crop or pad). A picture whose shorter side
    would be under MIN_SIDE is coded as the model's square. ``default_why``: what the note
    adds where ``default`` is the box that scaled the picture down."""
    box = parse_size(size) if size else None
    if box is not None and box[0] == box[1]:
        side = min(box[0], MAX_BOX[1]) // 2 * 2  # (no larger than 1080p's short side)
        return Plan(side, Layout.square(side), (f"coded as a {side}x{side} square (--size)",))
    w, h = output_size(width, height, box, default)
    notes = []
    if min(w, h) < MIN_SIDE:
        return Plan(model_size, Layout.square(model_size),
                    (f"the {width}x{height} picture is under {MIN_SIDE} pixels a side: coded as the "
                     f"model's {model_size}x{model_size} square",))
    if (w, h) != (width, height):
        fits = _bounding_box(width, height, box, default)
        why = "to fit --size" if fits is box else f"to fit {fits[0]}x{fits[1]}"
        if default_why and box is None and fits == _turned(default, width, height):
            why += f", {default_why}"
        notes.append(f"scaled down from {width}x{height} to {w}x{h} {why}")
    if w == h == model_size:
        return Plan(model_size, Layout.square(model_size), tuple(notes))
    return Plan((w, h), Layout(w, h, choose_region(w, h)), tuple(notes))

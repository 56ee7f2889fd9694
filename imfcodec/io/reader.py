"""Any input FFmpeg reads, through PyAV, as RGB frames at the model's resolution."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import InputError

MAX_SOURCE_SIDE = 8192  # larger inputs are refused rather than decoded at great cost
MIN_SOURCE_SIDE = 2


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frames: int | None  # what the container says; None when it does not say


def existing_file(path: str | Path, kind: str = "a video") -> Path:
    """The path of an input file that exists (InputError for a missing path or a folder)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not {kind}")
    return path


def _open(path: str | Path):
    path = existing_file(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a video FFmpeg can read ({type(exc).__name__})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    with _open(path) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frames = stream.frames or None
    if not width or not height:
        raise InputError(f"{path}: video stream has no frame size")
    if max(width, height) > MAX_SOURCE_SIDE:
        raise InputError(f"{path}: {width}x{height} is larger than {MAX_SOURCE_SIDE} pixels a side")
    if min(width, height) < MIN_SOURCE_SIDE:
        raise InputError(f"{path}: {width}x{height} is too small")
    fps = Fraction(rate) if rate else Fraction(25)
    if fps <= 0 or fps > 1000:
        fps = Fraction(25)
    return VideoInfo(width, height, fps.limit_denominator(1 << 20), frames)


def fit_frame(frame: av.VideoFrame, size: int, fit: str) -> np.ndarray:
    """Centre square crop (``crop``) or letterbox (``pad``), then resize to size x size."""
    w, h = frame.width, frame.height
    if fit == "crop":
        side = min(w, h)
        rgb = frame.to_ndarray(format="rgb24")
        top, left = (h - side) // 2, (w - side) // 2
        square = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(rgb[top : top + side, left : left + side]), format="rgb24"
        )
        return square.reformat(size, size, "rgb24", interpolation="AREA").to_ndarray()
    scale = size / max(w, h)
    nw, nh = max(2, round(w * scale)), max(2, round(h * scale))
    inner = frame.reformat(nw, nh, "rgb24", interpolation="AREA").to_ndarray()
    out = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = inner
    return out


def read_frames(path: str | Path, size: int, fit: str = "crop") -> Iterator[np.ndarray]:
    """Yields (size, size, 3) uint8 RGB frames in display order."""
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                yield fit_frame(frame, size, fit)
        except av.FFmpegError as exc:
            raise InputError(f"{path}: decoding failed ({exc})") from None

"""Decoded frames to a file: .mp4 (H.264), .mkv (FFV1, lossless), .y4m, or a PNG folder;
.mp4 and .mkv also take the sound's Opus packets as they are (io/audio.py)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from ..device import threads
from ..errors import OutputError
from .audio import RATE, OpusMuxer

KINDS = {".mp4": "H.264 (crf 18)", ".mkv": "FFV1, lossless RGB", ".y4m": "raw YUV 4:4:4"}
WITH_SOUND = (".mp4", ".mkv")  # the kinds that carry the sound inside; the others beside


def output_kind(path: str | Path) -> str:
    """'.mp4', '.mkv', '.y4m', or 'png' for a folder (a path with no suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in KINDS:
        return suffix
    if suffix == "" or path.is_dir():
        return "png"
    raise OutputError(f"{path}: unknown output kind {suffix!r} (use .mp4, .mkv, .y4m or a folder)")


class FrameWriter:
    """Writes frames one at a time to ``path`` (a temporary path chosen by the caller)."""

    def __init__(self, path: Path | BinaryIO, kind: str, fps: Fraction, size: tuple[int, int],
                 options: dict | None = None, audio: tuple[int, bytes] | None = None,
                 delay: int = 0) -> None:
        """``path``: a path, or a binary stream (standard output) for ``.y4m``; ``options``
        override the encoder's (e.g. {"crf": "23", "preset": "slow"} for .mp4); ``audio``:
        (channels, OpusHead) of a sound to mux beside the video (.mp4 and .mkv); ``delay``:
        frame times the first frame is shown after the start (for sound that starts before
        it: the containers start at 0)."""
        self.kind, self.count, self.delay = kind, 0, delay
        self.audio_shift = round(delay * RATE / Fraction(fps))  # the delay, in 1/48000 s
        self.path = Path(path) if isinstance(path, (str, Path)) else None
        self.container = self.stream = self.audio = None
        if kind == "png":
            self.path.mkdir(exist_ok=True)
            return
        fmt = {".mp4": "mp4", ".mkv": "matroska", ".y4m": "yuv4mpegpipe"}[kind]
        self.container = av.open(str(path) if self.path else path, "w", format=fmt)
        codec, pix_fmt, defaults = {
            ".mp4": ("libx264", "yuv420p", {"crf": "18", "preset": "medium"}),
            ".mkv": ("ffv1", "bgr0", {}),
            ".y4m": ("rawvideo", "yuv444p", {}),
        }[kind]
        self.stream = self.container.add_stream(codec, rate=fps)
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = pix_fmt
        self.stream.options = {**defaults, **(options or {})}
        self.stream.thread_count = threads()  # device.use_threads (x264's own: 1.5 a core)
        if audio is not None:
            if kind not in WITH_SOUND:
                raise OutputError(f"{kind} output cannot carry sound")
            self.audio = OpusMuxer(self.container, *audio)

    def write(self, rgb: np.ndarray) -> None:
        if self.kind == "png":
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.to_image().save(self.path / f"frame_{self.count:06d}.png")
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(format=self.stream.pix_fmt)
            frame.pts = self.count + self.delay
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        self.count += 1

    def write_audio(self, pts: int, duration: int, data: bytes) -> None:
        """One Opus packet, times in 1/48000 s from the first frame (before ``delay``)."""
        self.audio.mux(pts + self.audio_shift, duration, data)

    def close(self) -> None:
        if self.container is not None:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            self.container.close()
            self.container = None

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, *exc) -> None:
        if self.container is not None:
            try:
                self.close()
            except Exception:
                if exc[0] is None:
                    raise

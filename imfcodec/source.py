"""A video to encode, opened and probed once, then read (as many times as the encoder needs)
as RGB frames at the model's size.

Every caller that reads clips goes through here: encoding (key placement reads the input
twice), rate control (whole passes), the bench and training. A Source is either a file that
FFmpeg reads (imfcodec/io/reader.py does the decoding, cropping and resizing) or frames
already in memory.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .errors import InputError
from .io.reader import VideoInfo, probe, read_frames


class Source:
    """Frames of one video: ``info`` (source size, frame rate, announced frame count) and
    ``frames()``, a fresh pass over the frames at ``size`` each call: a square's side (the
    picture cropped or padded to it, by ``fit``), or (width, height), the whole picture."""

    def __init__(self, name: str, info: VideoInfo, size: int | tuple[int, int], fit: str,
                 reader: Callable[[int, str], Iterator[np.ndarray]], path: Path | None = None) -> None:
        """``path``: the file, for a Source read from one (its sound is read from it too)."""
        self.name, self.info, self.size, self.fit, self.path = name, info, size, fit, path
        self._reader = reader
        self.notes: tuple[str, ...] = ()  # what was done to the picture's size (layout.plan)

    @classmethod
    def open(cls, path: str | Path, size: int | tuple[int, int] = 256, fit: str = "crop") -> "Source":
        """A file FFmpeg reads; probed here, once (InputError if it cannot be used)."""
        path = Path(path)
        info = probe(path)
        return cls(str(path), info, size, fit, lambda side, how: read_frames(path, side, how, info), path)

    @classmethod
    def from_frames(cls, frames: Iterable[np.ndarray], fps: Fraction | float = Fraction(25),
                    name: str = "frames", source_size: tuple[int, int] | None = None) -> "Source":
        """Frames in memory, all (H, W, 3) uint8 of one size: square ones at the model's
        size, or any size, coded at that size."""
        frames = list(frames)
        shape = frames[0].shape if frames else (256, 256, 3)
        if any(f.shape != shape or len(shape) != 3 or shape[2] != 3 or f.dtype != np.uint8
               for f in frames):
            raise InputError(f"{name}: frames must all be (H, W, 3) uint8 pictures of one size")
        height, width = shape[:2]
        own = width if width == height else (width, height)
        info = VideoInfo(*(source_size or (width, height)), Fraction(fps).limit_denominator(1 << 20),
                         len(frames))

        def reader(size, fit: str) -> Iterator[np.ndarray]:
            if frames and size != own:
                asked = f"{size}x{size}" if isinstance(size, int) else "x".join(map(str, size))
                raise InputError(f"{name}: frames are {width}x{height}, not {asked}")
            return iter(frames)

        return cls(name, info, own, "crop", reader)

    @classmethod
    def of(cls, source: "str | Path | Source", size: int | tuple[int, int], fit: str) -> "Source":
        """A path or a Source, at ``size`` and ``fit`` (a Source is not probed again)."""
        if isinstance(source, Source):
            return source.fitted(size, fit)
        return cls.open(source, size, fit)

    def fitted(self, size: int | tuple[int, int], fit: str) -> "Source":
        """The same input read at another size or fit."""
        if (size, fit) == (self.size, self.fit):
            return self
        return Source(self.name, self.info, size, fit, self._reader, self.path)

    @property
    def fps(self) -> Fraction:
        return self.info.fps

    @property
    def source_size(self) -> tuple[int, int]:
        return self.info.width, self.info.height

    def frames(self) -> Iterator[np.ndarray]:
        """A new pass over every frame, in display order."""
        return self._reader(self.size, self.fit)

    def read(self, limit: int | None = None) -> list[np.ndarray]:
        """The first ``limit`` frames (all with None), in memory."""
        out = []
        for frame in self.frames():
            out.append(frame)
            if limit and len(out) >= limit:
                break
        return out

    def __repr__(self) -> str:
        return f"Source({self.name!r}, {self.info.width}x{self.info.height} at {float(self.fps):g} fps)"

"""A live stream's look-ahead (a latency budget, ``send --delay``): the frames taken and not
yet coded, and where each run's key frame is placed among them."""

from __future__ import annotations

from collections import deque

import numpy as np

from .. import bitstream as bs
from ..keyplace import central_frame, descriptor
from ..refresh import scene_change


class LookAhead:
    """Holds up to ``size`` frames before they are coded: (index, picture, repeated), with
    the thumbnails of those that are not repeats; ``scene_cut``: the encoder's scene-change
    threshold (None: none), where a run's candidates end."""

    def __init__(self, size: int, scene_cut: float | None) -> None:
        self.size, self.scene_cut = size, scene_cut
        self.window: deque[tuple[int, np.ndarray, bool]] = deque()
        self.thumbs: dict[int, np.ndarray] = {}
        self.previous: np.ndarray | None = None  # the frame coded before the next held one

    def hold(self, index: int, picture: np.ndarray, repeated: bool = False) -> None:
        self.window.append((index, picture, repeated))
        if not repeated:
            self.thumbs[index] = descriptor(picture)

    @property
    def full(self) -> bool:
        return len(self.window) >= self.size

    def oldest(self) -> tuple[int, np.ndarray, bool]:
        """Takes the oldest frame out to be coded (its thumbnail stays until ``coded``: the
        placer may look at it)."""
        return self.window.popleft()

    def coded(self, index: int, picture: np.ndarray) -> None:
        self.thumbs.pop(index, None)
        self.previous = picture

    def place(self, index: int, frame: np.ndarray, reason: bs.KeyReason) -> tuple[int, np.ndarray]:
        """The key frame of a run starting at frame ``index``: the frame nearest the mean
        thumbnail of the run's first frames held (up to a scene change, repeats left out).
        Only the stream's first key frame and refreshes move: the other intra key frames
        (asked for, a scene cut, the interval) stay at their frame, since a receiver that lost
        records takes the stream up at the next intra key frame's own frame."""
        if reason not in (bs.KeyReason.START, bs.KeyReason.QUALITY):
            return index, frame
        candidates, before = [(index, frame)], frame
        for later, rgb, repeated in self.window:
            if repeated:
                continue
            if self.scene_cut is not None and scene_change(before, rgb) > self.scene_cut:
                break
            candidates.append((later, rgb))
            before = rgb
        thumbs = [self.thumbs[i] if i in self.thumbs else descriptor(rgb) for i, rgb in candidates]
        return candidates[central_frame(thumbs)]

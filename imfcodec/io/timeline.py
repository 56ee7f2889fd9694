"""Frame timestamps: whether an input is constant-rate, and if not, how to show it at one.

An .imf file has one frame rate. An input whose timestamps have gaps or bursts (variable frame
rate: screen recordings, phones, edited clips) is resampled to a constant rate when it is
read: each output frame shows the source frame on screen at its time, so a source frame held
for 0.9 s is repeated and two frames inside one output interval keep only the later. The
video then lasts as long as the source did. Pure functions of the timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

# Intervals within this factor of the median count as regular (codec rounding of timestamps,
# a frame dropped by the camera now and then would be outside it and get resampled).
REGULAR = (0.5, 1.5)
MAX_FPS = 60  # the highest rate an irregular source is resampled to


@dataclass(frozen=True)
class Resampling:
    """How an irregular source is shown at a constant rate: ``shows[i]`` output frames show
    source frame i (0: dropped, 2 or more: repeated)."""

    fps: Fraction
    shows: tuple[int, ...]

    @property
    def frames(self) -> int:
        return sum(self.shows)

    @property
    def repeated(self) -> int:
        return sum(n - 1 for n in self.shows if n > 1)

    @property
    def dropped(self) -> int:
        return sum(1 for n in self.shows if n == 0)


def resampling(times: list[float], nominal: Fraction | None = None) -> Resampling | None:
    """None when the timestamps (seconds, any order) step regularly; else the resampling to
    ``nominal``, the rate the container declares (FFmpeg's r_frame_rate: the rate at which
    its timestamps are laid out), or, without one up to MAX_FPS, the rate of the median step.
    Gaps are then filled by repeating frames; only frames in a burst faster than that rate
    are dropped."""
    times = sorted(times)
    if len(times) < 3:
        return None
    steps = np.diff(times)
    step = float(np.median(steps))
    if step <= 0:
        return None
    lo, hi = REGULAR
    if np.all((steps >= lo * step) & (steps <= hi * step)):
        return None
    if nominal is not None and 0 < nominal <= MAX_FPS:
        fps = Fraction(nominal)
    else:
        fps = Fraction(1 / step).limit_denominator(1001)
    dt = 1 / float(fps)
    slots = int(round((times[-1] - times[0]) / dt)) + 1
    shows = [0] * len(times)
    source = 0
    for n in range(slots):
        slot = times[0] + n * dt
        # the last source frame that has started by the middle of this output interval
        while source + 1 < len(times) and times[source + 1] <= slot + dt / 2:
            source += 1
        shows[source] += 1
    return Resampling(fps, tuple(shows))

"""Rate control for a live stream: a target kbps followed as the frames come, not by whole
passes (a file's ratecontrol.py codes the clip again and again; a call cannot).

The tokens of a quality level cost about the same every frame; what moves the rate is how
often the closed-loop rule sends a (predicted) key frame. So the controller keeps a bucket of
the video's bits spent less its share of the target (the target less the sound's rate) and
prices refreshes by it: the rule's lambda (refresh.py) is multiplied by 2 ** (bucket / one
second of budget), within 1/8 .. 64. Over budget, refreshes get dearer and rarer; under it,
cheaper. The bucket forgets savings beyond a second, so a quiet minute does not pay for a
burst of key frames later.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

LOW, HIGH = 1 / 8, 64.0  # the range of the price's multiplier


class OnlineRate:
    def __init__(self, target: float, fps: Fraction, audio_bitrate: int, loop) -> None:
        """``target``: bits per second for video and sound; ``loop``: the encoder's FrameLoop,
        whose refresh rule it prices."""
        self.loop = loop
        self.budget = max(1.0, float(target) - audio_bitrate)  # the video's bits per second
        self.per_frame = self.budget / float(fps)
        self.bucket = 0.0  # bits spent beyond the budget so far
        rule = loop.fixed.rule
        self.base = rule.lam if rule is not None else None
        self.factor = 1.0

    def spent(self, nbytes: int) -> None:
        """After each frame: its video bytes (key frame or token records)."""
        self.bucket = max(-self.budget, self.bucket + 8 * nbytes - self.per_frame)
        if self.base is None:
            return
        self.factor = min(HIGH, max(LOW, 2.0 ** (self.bucket / self.budget)))
        fixed = self.loop.fixed
        self.loop.fixed = replace(fixed, rule=replace(fixed.rule, lam=self.base * self.factor))

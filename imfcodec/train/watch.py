"""Watches a training run for the token falling out of use ("token collapse").

The rate term pays for every bit the token's residual (current frame's token minus the
reference's) costs, and rebuilding the reference's picture is a cheap fallback for the
decoder. Pushed hard enough, the token encoder gives every frame of a clip the same token:
the rate estimate drops to zero, and from then on the model only shows the key frame, a run
that looks calm in its losses. A from-scratch run of the small preset with coarse pixels,
quarter far pairs and the rate term at 0.01 did this near step 800 (docs/training.md). The
watch says so once, in the log and in that step's JSONL entry, while the run goes on.
"""

from __future__ import annotations

from collections import deque

WINDOW = 100  # steps averaged: single batches swing by tens of bits
FLOOR = 1.0  # mean estimated bits per token (32 numbers) under which the token is unused
REARM = 4.0  # the watch speaks again only after the mean has recovered past FLOOR * REARM


class TokenCollapseWatch:
    """``update(step, rate_bits)`` returns a one-line warning the first time the mean of
    the last ``window`` steps' estimated token bits falls under ``floor``, else None."""

    def __init__(self, window: int = WINDOW, floor: float = FLOOR):
        self.floor = floor
        self.recent: deque[float] = deque(maxlen=window)
        self.armed = True

    def update(self, step: int, rate_bits: float) -> str | None:
        self.recent.append(rate_bits)
        if len(self.recent) < self.recent.maxlen:
            return None
        mean = sum(self.recent) / len(self.recent)
        if not self.armed:
            self.armed = mean > self.floor * REARM
            return None
        if mean >= self.floor:
            return None
        self.armed = False
        return (f"warning: step {step}: the token has stopped carrying motion (estimated "
                f"{mean:.2f} bits a token over the last {len(self.recent)} steps), so frames "
                f"are rebuilt from the reference alone; lower --rate-weight or raise "
                f"--rate-start (docs/training.md, \"Token collapse\")")

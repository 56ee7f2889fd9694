"""The key frames the decoder holds, and which of them a batch of frames is rebuilt from.

With ``--references R`` encoder and decoder both hold the last R key frames (the decoder's
side: decoder.py). The encoder chooses, for each batch, the held key frame it is rebuilt from
(``choose``), and with a model that blends, the share of the key frame held before that one
mixed into each frame (``blend``); both are the encoder's choices, written into the TOKENS
records (docs/format.md, docs/references.md). One reference (the default) keeps every frame on
its run's own key frame and none of this runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import mse
from .prediction import Batch, Predictor


@dataclass
class HeldKey:
    """A key frame the decoder holds, and what the encoder knows of it."""

    index: int = 0
    reference: Any = None  # the motion model's prepared decoded key frame (when needed)
    fresh_mse: float = 0.0  # error of the key frame rebuilt from its own token (R-D refresh)
    bits: int = 0  # what a refresh is expected to cost, in bits (R-D refresh)
    digest: bytes = b""  # of its decoded picture: what tokens analysed against it depend on


class Held:
    """The last ``size`` key frames, as the decoder holds them (``back(0)``: the last)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.keys: list[HeldKey] = []

    def push(self, key: HeldKey) -> None:
        self.keys = (self.keys + [key])[-self.size:]

    @property
    def last(self) -> HeldKey:
        """The last key frame sent (an empty one before the first)."""
        return self.keys[-1] if self.keys else HeldKey()

    def back(self, n: int) -> HeldKey:
        """The key frame ``n`` before the last (a TOKENS record's reference index)."""
        return self.keys[-1 - n]

    def __len__(self) -> int:
        return len(self.keys)


def _errors(batch: Batch, rebuilt: np.ndarray) -> list[float]:
    return [mse(frame, picture) for (_, frame), picture in zip(batch, rebuilt)]


def choose(predict: Predictor, held: Held, current: int, batch: Batch, last: np.ndarray | None,
           gain: float) -> tuple[int, np.ndarray, np.ndarray]:
    """The held key frame the batch is rebuilt from (its index back from the last), and the
    batch's levels and rebuilt frames from it (unrefined). ``current``: the reference the
    frames before it use, ``last``: the last levels sent against it.

    The current reference rebuilds the whole batch; every other held key frame only the
    batch's worst-rebuilt frame (a probe, a quarter of the work). The best probe, when it
    beats the current reference on that frame by ``gain`` (options.Tuning.switch_gain),
    rebuilds the whole batch, and the batch moves to it if it does so by ``gain`` too (a
    switch starts a chunk whose first token is coded whole, so it is quantised after none)."""
    levels = predict.quantised(held.back(current), batch, last)
    rebuilt = predict.rebuild(held.back(current), levels)
    errors = _errors(batch, rebuilt)
    probe = [batch[int(np.argmax(errors))]]
    tried = []
    for back, key in enumerate(reversed(held.keys)):  # 0: the last key frame
        if back != current:
            picture = predict.rebuild(key, predict.quantised(key, probe, None))[0]
            tried.append((mse(probe[0][1], picture), back))
    best_probe, best = min(tried)
    if best_probe < (1 - gain) * max(errors):
        other = predict.quantised(held.back(best), batch, None)
        other_rebuilt = predict.rebuild(held.back(best), other)
        if np.mean(_errors(batch, other_rebuilt)) < (1 - gain) * np.mean(errors):
            return best, other, other_rebuilt
    return current, levels, rebuilt


def partner_of(held: Held, reference: int, blends: bool) -> int | None:
    """The held key frame a batch rebuilt from ``reference`` may blend in: the one held
    before it, with a model that blends (None: none)."""
    partner = reference + 1
    return partner if blends and partner < len(held) else None


def blend(predict: Predictor, held: Held, reference: int, partner: int, batch: Batch,
          levels: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Each frame's share (entropy.coder.SHARES) of the ``partner`` key frame, warped by the
    frame's flow composed with the flow between the two key frames, that rebuilds it with the
    least squared error (the model's ``best_shares``), and the batch as the decoder will show
    it. Returns the share indices (0: none) and the rebuilt frames."""
    motion = predict.motion
    own, theirs = motion.blend_pictures(held.back(reference).reference,
                                        held.back(partner).reference,
                                        predict.dequantize(levels))
    shares = motion.best_shares(own, theirs, [frame for _, frame in batch])
    return shares.tolist(), motion.mix(own, theirs, shares)

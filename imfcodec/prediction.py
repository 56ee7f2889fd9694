"""The motion model as the encoder uses it: a batch of frames against one held key frame.

Tokens (analysed, or refined through the decoder), quantised as the decoder will read them,
and the frames rebuilt from them as the decoder will show them. The key frame is always an
argument (a references.HeldKey): nothing here remembers which one the encoder is using.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from . import bitstream as bs
from .entropy import quantize as quant
from .errors import ModelError
from .motion.base import MotionModel
from .options import EncodeOptions

Batch = list[tuple[int, np.ndarray]]  # (frame index, frame)


class HeldKey(Protocol):
    """A decoded key frame as the predictor needs it (references.HeldKey is one)."""

    reference: Any  # the motion model's prepared decoded key frame
    digest: bytes  # of the decoded picture: what tokens analysed against it depend on


def finite(tokens: np.ndarray, motion: MotionModel) -> np.ndarray:
    """Tokens about to be quantised (analysed or refined): NaN or infinity would become
    arbitrary integers, so they are a model error instead."""
    if not np.isfinite(tokens).all():
        raise ModelError(f"model {motion.name} gave tokens that are not finite numbers")
    return tokens


class Predictor:
    """Tokens, levels and rebuilt frames of a batch from a given held key frame."""

    def __init__(self, motion: MotionModel, header: bs.Header, options: EncodeOptions,
                 cache: dict | None) -> None:
        self.motion = motion
        self.options = options
        self.grid = motion.grid(header.token_step)  # the quantiser's unit
        # refinement's price of a token bit at this token step (options.Tuning)
        self.rate_weight = options.tuning.refine_rate_weight * header.token_step
        # frame index -> token, shared by passes over the same frames (None: nothing cached)
        self.cache = cache
        # the largest token number quantised so far, in steps of the grid, among the numbers
        # whose grid follows the token step (a global motion's are in pixels): past
        # entropy.tables.MAX_LEVEL a level is clamped (encoder.encode_stream then raises the step)
        self.peak = 0.0
        self.scaled = motion.grid(2.0) != motion.grid(1.0)

    def _levels(self, tokens: np.ndarray, last: np.ndarray | None) -> np.ndarray:
        tokens = finite(tokens, self.motion)
        steps = np.abs(tokens[:, self.scaled] / self.grid[self.scaled])
        self.peak = max(self.peak, float(steps.max(initial=0)))
        return quant.quantize_held(tokens, self.grid, last, self.options.hold)

    def tokens(self, key: HeldKey, batch: Batch) -> np.ndarray:
        """The motion model's tokens of a batch of frames (from the cache where it has them)."""
        motion = self.motion
        cache = {} if self.cache is None else self.cache
        # a token that depends on the reference is cached under the reference's identity (the
        # digest of the decoded key frame: passes at other QPs, or with other key frames before
        # a predicted one, decode other pictures)
        # (numbers that depend on the key frame's picture alone, motion.reference_dims, are
        # not cached: they are analysed against ``key`` every time)
        keys = [(key.digest, i) if motion.analysis_uses_reference else i for i, _ in batch]
        own = motion.token_dim - motion.reference_dims
        missing = [(k, f) for k, (_, f) in zip(keys, batch) if k not in cache]
        fresh = {}
        if missing:
            tokens = motion.analyse([f for _, f in missing], key.reference)
            fresh = dict(zip([k for k, _ in missing], tokens))
            cache.update((k, t[:own]) for k, t in fresh.items())
        if not motion.reference_dims:
            return np.stack([cache[k] for k in keys])
        stale = [(k, f) for k, (_, f) in zip(keys, batch) if k not in fresh]
        if stale:
            relative = motion.analyse_reference([f for _, f in stale], key.reference)
            fresh.update((k, np.concatenate([cache[k], r])) for (k, _), r in zip(stale, relative))
        return np.stack([fresh[k] for k in keys])

    def quantised(self, key: HeldKey, batch: Batch, last: np.ndarray | None) -> np.ndarray:
        """The batch's tokens against ``key``, quantised after ``last`` (unrefined)."""
        return self._levels(self.tokens(key, batch), last)

    def refined(self, key: HeldKey, batch: Batch, last: np.ndarray | None,
                correction: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The batch's tokens fitted to its frames through the decoder, quantised after
        ``last``, and their corrections (refined minus analysed). Warm start: ``correction``,
        the one refinement made to the last frame sent since the key frame, is applied to the
        analysed tokens first; nearby frames need similar ones."""
        tokens = self.tokens(key, batch)
        previous = None if last is None else quant.dequantize(last, self.grid)
        start = tokens if correction is None else tokens + correction
        refined = self.motion.refine(key.reference, [frame for _, frame in batch], start,
                                     self.options.refine_steps, self.grid, previous,
                                     self.rate_weight)
        return self._levels(refined, last), refined - tokens

    def dequantize(self, levels: np.ndarray) -> np.ndarray:
        """The tokens the decoder reads from ``levels``."""
        return quant.dequantize(levels, self.grid)

    def rebuild(self, key: HeldKey, levels: np.ndarray) -> np.ndarray:
        """Frames as the decoder will show them, from quantised tokens and ``key``."""
        return self.motion.synthesise(key.reference, self.dequantize(levels))

    def preview(self, key: HeldKey, levels: np.ndarray) -> np.ndarray:
        """A cheaper likeness of ``rebuild``'s frames (the motion model's preview)."""
        return self.motion.preview(key.reference, self.dequantize(levels))

"""When the encoder sends a new key frame: pure functions of numbers and frames.

Forced key frames (the first frame, `--keyframe-interval`, the interval cap, scene cuts) are
decided from the source alone (``forced_reason``). The closed-loop decision (``RefreshRule``)
looks at a frame as the decoder will rebuild it: a PSNR floor, or the rate-distortion test
that a key frame pays for itself (docs/adaptive.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .bitstream import KeyReason
from .intra import IntraCodec
from .metrics import mse, psnr
from .options import EncodeOptions


def refresh_lambda_at(scale: float, qp: float, codec: IntraCodec) -> float:
    """Squared error (in 8-bit units, summed over samples) that one bit of key frame must save.

    Grows as 2^(QP/3) with the key frame's QP, the way HEVC's mode-decision lambda does, so
    coarse levels refresh rarely and fine ones often; AV1 QPs (0..63) are mapped onto the
    HEVC scale first. ``scale`` is the measured constant (options.ADAPTIVE.refresh_lambda).
    """
    hevc_qp = qp if codec is IntraCodec.HEVC else 51 - (63 - qp) * 2 / 3
    return scale * 2.0 ** ((hevc_qp - 12) / 3)


def key_frame_pays(error: float, fresh_error: float, samples: int, horizon: int, lam: float,
                   key_bits: int) -> bool:
    """The rate-distortion refresh test: a key frame now turns the rebuilt frames' squared
    error per sample from ``error`` (today's, from the old reference) into ``fresh_error``
    (what a frame rebuilt right after a key frame shows) for ``horizon`` frames of ``samples``
    samples; it pays when that saving exceeds ``lam`` per bit of the key frame."""
    return (error - fresh_error) * samples * horizon > lam * key_bits


def _grey(x: np.ndarray) -> np.ndarray:
    """A frame's grey (the mean of its channels) over 4x4 blocks, float32: summed exactly in
    integers (a 1280x720 frame in a quarter of the time of float means)."""
    h, w = (x.shape[0] // 4) * 4, (x.shape[1] // 4) * 4
    sums = x[:h, :w].reshape(h // 4, 4, w // 4, 4 * x.shape[2]).sum(axis=(1, 3), dtype=np.int32)
    return sums.astype(np.float32) / np.float32(16 * x.shape[2])


_last: list = [None, None]  # the last frame scene_change saw as ``current``, and its grey


def scene_change(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean absolute difference of 4x-downsampled grey frames, in [0, 1]. (The frame before
    is mostly the one the last call saw: its grey is kept, not computed again.)"""
    before = _last[1] if _last[0] is previous else _grey(previous)
    now = _grey(current)
    _last[0], _last[1] = current, now
    return float(np.abs(before - now).mean() / 255)


def forced_reason(options: EncodeOptions, index: int, last_key: int, frame: np.ndarray,
                  previous: np.ndarray | None) -> KeyReason | None:
    """Why frame ``index`` must be a key frame whatever it would rebuild to (None: it need not)."""
    if index == 0:
        return KeyReason.START
    if options.keyframe_interval and index % options.keyframe_interval == 0:
        return KeyReason.INTERVAL
    if options.max_keyframe_interval and index - last_key >= options.max_keyframe_interval:
        return KeyReason.INTERVAL
    if options.scene_cut is not None and previous is not None and \
            scene_change(previous, frame) > options.scene_cut:
        return KeyReason.SCENE_CUT
    return None


@dataclass(frozen=True)
class RefreshRule:
    """The closed-loop decision for one encode: a PSNR floor and / or the R-D test's price."""

    threshold: float | None  # PSNR floor in dB (None: off)
    lam: float | None  # squared error one key-frame bit must save (None: no R-D test)
    horizon: int  # frames a refresh is judged over
    gap: int  # frames at least between the last key frame and a refresh
    stride: int = 1  # frames between two tests (options.Tuning.refresh_stride)

    @classmethod
    def of(cls, options: EncodeOptions, fps: Fraction, intra_codec: int,
           intra_qp: int) -> "RefreshRule | None":
        """The rule ``options`` ask for (None when they ask for no closed loop)."""
        if not options.closed_loop:
            return None
        lam = None
        if options.refresh_lambda is not None:
            if options.rd_qp is not None:
                lam = refresh_lambda_at(options.refresh_lambda, options.rd_qp, IntraCodec.HEVC)
            else:
                lam = refresh_lambda_at(options.refresh_lambda, intra_qp, IntraCodec(intra_codec))
        # A refresh is judged over the time after it (options.Tuning.refresh_horizon).
        horizon = max(1, round(options.tuning.refresh_horizon * float(fps)))
        return cls(options.refresh_threshold, lam, horizon, max(1, options.min_refresh_gap),
                   options.tuning.refresh_stride)

    def eligible(self, index: int, last_key: int) -> bool:
        """Only frames far enough from the last key frame are rebuilt and judged (every
        ``stride``-th of them)."""
        return index - last_key >= self.gap and (index - last_key - self.gap) % self.stride == 0

    def wants_key(self, source: np.ndarray, rebuilt: np.ndarray, fresh_mse: float,
                  key_bits: int) -> bool:
        """Whether the frame ``source``, rebuilt as ``rebuilt``, should be a key frame instead;
        ``fresh_mse`` and ``key_bits``: what the last key frame showed and cost."""
        if self.threshold is not None and psnr(source, rebuilt) < self.threshold:
            return True
        if self.lam is not None:
            return key_frame_pays(mse(source, rebuilt), fresh_mse, source.size, self.horizon,
                                  self.lam, key_bits)
        return False

"""Closed-loop quantisation of tokens to integers.

A token t (float, token_dim numbers) is quantised on the grid ``unit = step * token_scale``:
k = clamp(round(t / unit)). The reconstructed token is k * unit (float32), identical on
encoder and decoder. Each frame sends the residual k - k_prev against the previous
*reconstructed* token of the same reference; the first frame after a key frame sends k
itself ("absolute"). Everything the entropy coder sees is an integer.
"""

from __future__ import annotations

import numpy as np

from .tables import MAX_LEVEL


def unit(step: float, token_scale: np.ndarray) -> np.ndarray:
    return (np.float32(step) * np.asarray(token_scale, dtype=np.float32)).astype(np.float32)


def quantize(tokens: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(F, D) float tokens -> (F, D) int64 levels."""
    levels = np.rint(np.asarray(tokens, dtype=np.float32) / grid)
    return np.clip(levels, -MAX_LEVEL, MAX_LEVEL).astype(np.int64)


def quantize_held(tokens: np.ndarray, grid: np.ndarray, previous: np.ndarray | None,
                  hold: float) -> np.ndarray:
    """Like quantize, with hysteresis: each number keeps the level of the token before it
    while it stays within ``hold`` steps beyond that level's cell (|t / grid - k_prev| <=
    0.5 + hold). A token wobbling about a cell boundary (analysis noise) then costs no
    residual bits and its decoded motion does not flicker between two levels. ``previous``:
    the levels of the token before the first (None right after a key frame). An encoder-side
    choice: the decoder reads levels as before."""
    levels = quantize(tokens, grid)
    if hold <= 0:
        return levels
    scaled = np.asarray(tokens, dtype=np.float32) / grid
    before = previous
    for i, row in enumerate(scaled):
        if before is not None:
            levels[i] = np.where(np.abs(row - before) <= 0.5 + hold, before, levels[i])
        before = levels[i]
    return levels


def dequantize(levels: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(F, D) int levels -> (F, D) float32 tokens, bit-identical everywhere."""
    return (np.asarray(levels, dtype=np.float32) * grid).astype(np.float32)


def midpoint(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The levels halfway between two tokens' (float32 half levels, exact): the token of a
    frame a FRAME record of two frames (version 11.0) rebuilds between its neighbours."""
    return (np.asarray(before, dtype=np.float32) + np.asarray(after, dtype=np.float32)) * np.float32(0.5)


def to_residuals(levels: np.ndarray, previous: np.ndarray | None):
    """Levels of consecutive frames -> (absolute or None, residuals (F', D))."""
    if previous is None:
        return levels[0].copy(), np.diff(levels, axis=0)
    return None, np.diff(np.concatenate([previous[None], levels]), axis=0)


def from_residuals(absolute, residuals: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Inverse of to_residuals."""
    start = absolute if previous is None else previous
    rows = np.concatenate([np.asarray(start)[None], residuals]).cumsum(axis=0)
    return rows if previous is None else rows[1:]

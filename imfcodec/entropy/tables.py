"""Fixed probability tables of the token coder, built with integer arithmetic only.

Each table is a two-sided geometric distribution (a discrete Laplace) over the residual
alphabet -MAX_RESIDUAL..MAX_RESIDUAL, with decay ratio RATIO_NUMERATORS[i] / 2**16. The
frequencies are integers summing to 2**TOTAL_BITS, so every machine builds bit-identical
tables and the entropy decoder never depends on a floating-point result.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MAX_LEVEL = 127  # quantised token values are clamped to -MAX_LEVEL..MAX_LEVEL
MAX_RESIDUAL = 2 * MAX_LEVEL
ALPHABET = 2 * MAX_RESIDUAL + 1
TOTAL_BITS = 24
# round(exp(-1 / b) * 2**16) for scales b = 0.1 * 2**(0.3 i), i = 0..31, frozen as integers.
RATIO_NUMERATORS = (
    3, 19, 89, 308, 844, 1910, 3709, 6360, 9855, 14065, 18776, 23743, 28729, 33540, 38035,
    42126, 45770, 48961, 51716, 54068, 56056, 57725, 59117, 60272, 61227, 62014, 62660,
    63190, 63624, 63979, 64268, 64505,
)  # fmt: skip
N_TABLES = len(RATIO_NUMERATORS)


def _frequencies(numerator: int) -> list[int]:
    weights = [1 << 48]
    for _ in range(MAX_RESIDUAL):
        weights.append((weights[-1] * numerator) >> 16)
    two_sided = weights[:0:-1] + weights  # -R..R
    total = sum(two_sided)
    target = 1 << TOTAL_BITS
    freqs = [max(1, w * target // total) for w in two_sided]
    freqs[MAX_RESIDUAL] += target - sum(freqs)  # the mode absorbs the rounding
    return freqs


@lru_cache(maxsize=None)
def frequency_table() -> np.ndarray:
    """(N_TABLES, ALPHABET) int64 frequencies; each row sums to 2**TOTAL_BITS."""
    return np.array([_frequencies(n) for n in RATIO_NUMERATORS], dtype=np.int64)


@lru_cache(maxsize=None)
def cost_table() -> np.ndarray:
    """(N_TABLES, ALPHABET) ideal code lengths in bits, for the encoder's choices only."""
    return TOTAL_BITS - np.log2(frequency_table().astype(np.float64))

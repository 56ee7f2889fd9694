"""BD-rate of a test curve against an anchor, with the bjontegaard package (pchip).

Curves are first reduced to their monotone part (quality strictly rising with rate), and the
comparison is made only over the quality range both curves cover. Where they do not overlap
there is no number to give, and the result says so. Beside it, the Bjontegaard quality
difference (BD-PSNR, here in either metric): the mean quality gain at equal rate over the
log-rate range both curves cover, which exists when the rates overlap even if the qualities
do not (one curve above the other's whole quality range).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import bjontegaard
import numpy as np


@dataclass
class BDResult:
    bd_rate: float | None  # percent; negative: the test codec needs fewer bits
    overlap: tuple[float, float] | None  # quality range compared
    note: str = ""
    bd_quality: float | None = None  # mean quality gain at equal rate; positive: test better
    rate_overlap: tuple[float, float] | None = None  # rate range (kbps) of that comparison

    def to_dict(self) -> dict:
        return {"bd_rate_percent": self.bd_rate,
                "overlap": list(self.overlap) if self.overlap else None, "note": self.note,
                "bd_quality": self.bd_quality,
                "rate_overlap": list(self.rate_overlap) if self.rate_overlap else None}


def monotone(rates, quality) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by rate, keeping each only if its quality beats every cheaper point."""
    order = np.argsort(rates)
    r, q = np.asarray(rates, float)[order], np.asarray(quality, float)[order]
    keep_r, keep_q = [], []
    for rate, qual in zip(r, q):
        if not keep_q or qual > keep_q[-1]:
            keep_r.append(rate)
            keep_q.append(qual)
    return np.array(keep_r), np.array(keep_q)


def bd_rate(anchor_rates, anchor_quality, test_rates, test_quality) -> BDResult:
    ra, qa = monotone(anchor_rates, anchor_quality)
    rt, qt = monotone(test_rates, test_quality)
    if len(ra) < 2 or len(rt) < 2:
        return BDResult(None, None, "fewer than 2 monotone points on a curve")
    quality, rate_range = None, None
    r_low, r_high = max(ra.min(), rt.min()), min(ra.max(), rt.max())
    if r_low < r_high:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quality = float(bjontegaard.bd_psnr(ra, qa, rt, qt, method="pchip",
                                                require_matching_points=False, min_overlap=0.0))
        rate_range = (float(r_low), float(r_high))
    low, high = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if low >= high:
        return BDResult(None, None, "the curves do not overlap in quality", quality, rate_range)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = bjontegaard.bd_rate(ra, qa, rt, qt, method="pchip",
                                    require_matching_points=False, min_overlap=0.0)
    return BDResult(float(value), (float(low), float(high)), "", quality, rate_range)

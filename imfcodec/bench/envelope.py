"""The upper envelope of several rate-quality curves: the best quality any of them reaches at
each rate, the curve of a user who codes each clip at whichever size serves it best.

Each curve is taken as the bench draws and compares curves: its monotone points (bdrate.
monotone), joined by straight lines in log-rate, and held flat past its last point (a user
with more bits can always spend fewer). The envelope is the pointwise maximum of those
functions, from the lowest rate any curve starts at to the highest any reaches. It is exact
under that interpolation: its points are each curve's own points where that curve leads, plus
every place where the leading curve changes (two curves cross), so joining the envelope's
points with straight lines in log-rate draws the maximum itself (and an envelope led by one
curve throughout is that curve's points). Where it runs flat (past a curve's last point,
until another rises above it) the flat run's end is kept FLAT_STEP above its start, since
BD-rate reads only strictly rising curves; that step is far below any metric's precision.
Where a curve starts above the envelope so far (a larger size's lowest rate), the envelope
steps up there; its points join that step with a straight line from the point before, as if
the user could pick a size between the two, so the envelope's line is never below the best
measured curve, and at most that much above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bdrate import monotone

FLAT_STEP = 1e-9  # how much higher than a flat run its end point is kept (module docstring)
BEST_SUFFIX = "-best"  # "svtav1-best": the envelope of svtav1 and its reduced sizes


@dataclass(frozen=True)
class EnvelopePoint:
    kbps: float
    quality: float
    source: str  # the curve it lies on; at a crossing, the curve that leads past it

    def to_dict(self) -> dict:
        return {"kbps": self.kbps, "value": self.quality, "from": self.source}


class _Piecewise:
    """A monotone curve as a function of log-rate: linear between points, flat after."""

    def __init__(self, rates, quality) -> None:
        r, q = monotone(rates, quality)
        self.x, self.y = np.log(r), q

    def defined(self, x: float) -> bool:
        return len(self.x) > 0 and x >= self.x[0] - 1e-12

    def __call__(self, x: float) -> float:
        return float(np.interp(x, self.x, self.y))  # np.interp holds the last value flat


def _crossing(f: _Piecewise, g: _Piecewise, a: float, b: float) -> float | None:
    """Where f - g changes sign strictly inside (a, b), both being linear there."""
    da, db = f(a) - g(a), f(b) - g(b)
    if da * db >= 0:
        return None
    return a + (b - a) * da / (da - db)


def envelope(curves: dict[str, tuple[list[float], list[float]]]) -> list[EnvelopePoint]:
    """The upper envelope of ``curves`` ({name: (kbps, quality)}), as points sorted by rate with
    strictly rising quality; each point says which curve it lies on."""
    pieces = {name: _Piecewise(*points) for name, points in curves.items()}
    pieces = {name: f for name, f in pieces.items() if len(f.x)}
    if not pieces:
        return []
    rate_of = {float(np.log(r)): float(r) for rates, _ in curves.values() for r in rates if r > 0}
    xs = sorted({float(x) for f in pieces.values() for x in f.x})
    # every curve is linear between consecutive vertices of all curves: crossings lie there
    crossings = set()
    for a, b in zip(xs, xs[1:]):
        live = [f for f in pieces.values() if f.defined(a)]
        for i, f in enumerate(live):
            for g in live[i + 1 :]:
                x = _crossing(f, g, a, b)
                if x is not None:
                    crossings.add(x)
    points = []
    for x in sorted(set(xs) | crossings):
        # at a crossing both curves give the same value: name the one that leads after it
        scored = [(f(x), f(x + 1e-9), name) for name, f in pieces.items() if f.defined(x)]
        value, _, name = max(scored)
        # a point of another curve's that falls on the leader's straight part adds nothing
        if x not in crossings and not np.isclose(pieces[name].x, x, rtol=0, atol=1e-12).any():
            continue
        rate = rate_of.get(x, float(np.exp(x)))
        if not points or value > points[-1].quality + 1e-12:
            points.append(EnvelopePoint(rate, float(value), name))
        elif x in crossings and name != points[-1].source and rate > points[-1].kbps * (1 + 1e-9):
            # the end of a flat run, where another curve rises above it: kept a hair higher
            # than the run's level, so the points stay strictly rising and the run stays flat
            points.append(EnvelopePoint(rate, points[-1].quality + FLAT_STEP, name))
    return points


def scaled_family(names: list[str], base: str) -> list[str]:
    """The curves of ``base`` at every size measured: "svtav1" and "svtav1@1/2", ... ."""
    return [n for n in names if n == base or n.startswith(f"{base}@")]

"""Rate control: find the coding parameters that land a whole file on a target bitrate.

Quality is treated as a continuous number x in [X_MIN, X_MAX]: between the levels (0..7) the
token step is interpolated geometrically and the key-frame QP linearly (rounded); beyond
them both are extrapolated (coarser tokens below level 0, where the key frame's QP is already
at its maximum; finer tokens and lower QPs above level 7), so short clips can spend more
bits and long ones fewer. The QP of the rate-distortion refresh test is extrapolated too,
unclamped, so below level 0 adaptive refresh gets rarer. The encoder
runs whole passes over the clip, searching x by false position on the logarithm of the rate
(bracketed, so it cannot diverge), until the file's average rate is within ``tolerance`` of
the target. Tokens depend only on their frames, so every pass after the
first reuses them (token_cache) and costs little more than quantising and entropy coding;
with closed-loop refresh the rebuilt frames depend on x and each pass runs the decoder too.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .encoder import EncodeOptions, EncodeResult, encode_to_stream, with_adaptive
from .errors import IMFError
from .intra import QP_RANGE
from .io.reader import probe, read_frames
from .models.weights import LoadedModel
from .quality import ADAPTIVE, LEVELS, AdaptiveDefaults


def parse_bitrate(text: str) -> float:
    """'8k', '8 kbps', '8000', '1.5M' -> kilobits per second."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)(?:bps|b/s)?\s*", text)
    if not match:
        raise IMFError(f"--bitrate: cannot read {text!r} (try 8k, 8000 or 1.5M)")
    value = float(match.group(1))
    unit = match.group(2).lower()
    kbps = value if unit == "k" else value * 1000 if unit == "m" else value / 1000
    if not 0.1 <= kbps <= 100000:
        raise IMFError(f"--bitrate: {kbps:g} kbps is out of range (0.1k .. 100M)")
    return kbps


X_MIN, X_MAX = -4.0, 11.0


def parameters_at(x: float, options: EncodeOptions) -> EncodeOptions:
    """Options at continuous quality x in [X_MIN, X_MAX]."""
    x = min(max(x, X_MIN), X_MAX)
    top = len(LEVELS) - 1
    i = min(max(int(math.floor(x)), 0), top - 1)
    t = x - i  # may be < 0 or > 1 outside the levels: extrapolation
    a, b = LEVELS[i], LEVELS[i + 1]
    step = math.exp((1 - t) * math.log(a.token_step) + t * math.log(b.token_step))
    qa, qb = a.intra_qp(options.intra_codec), b.intra_qp(options.intra_codec)
    lo, hi = QP_RANGE[options.intra_codec]
    qp = min(hi, max(lo + 5, round((1 - t) * qa + t * qb)))
    # The R-D refresh test's QP is not clamped: below level 0 it keeps rising (4 a level),
    # so adaptive refresh also gets rarer there and reaches lower rates.
    rd_qp = (1 - t) * a.hevc_qp + t * b.hevc_qp
    return replace(options, quality=int(round(min(max(x, 0), top))), token_step=step, intra_qp=qp,
                   rd_qp=rd_qp)


@dataclass
class RateControlResult:
    data: bytes
    result: EncodeResult
    quality: float  # the continuous x chosen
    passes: int
    reached: bool  # within tolerance of the target
    policy: str = "as given"  # the refresh policy: "adaptive", "single key frame" or "as given"


def encode_at_bitrate(source: str | Path, loaded: LoadedModel, options: EncodeOptions,
                      kbps: float, tolerance: float = 0.05, max_passes: int = 14,
                      notify: Callable[[str], None] = lambda m: None) -> RateControlResult:
    info = probe(source)
    size = loaded.model.cfg.image_size
    cache: dict = {}
    tried: dict[float, tuple[bytes, EncodeResult]] = {}

    def rate(x: float) -> float:
        if x not in tried:
            opts = parameters_at(x, options)
            buf = io.BytesIO()

            def frames():
                return read_frames(source, size, options.fit)

            try:
                result = encode_to_stream(frames, buf, loaded, opts, info.fps,
                                          (info.width, info.height), token_cache=cache)
            except IMFError as exc:
                raise type(exc)(f"{source}: {exc}") from None
            tried[x] = (buf.getvalue(), result)
        return tried[x][1].kbps

    def done(x: float, reached: bool) -> RateControlResult:
        data, result = tried[x]
        return RateControlResult(data, result, x, len(tried), reached)

    if rate(X_MIN) >= kbps * (1 - tolerance):
        return done(X_MIN, rate(X_MIN) <= kbps * (1 + tolerance))
    if rate(X_MAX) <= kbps * (1 + tolerance):
        return done(X_MAX, rate(X_MAX) >= kbps * (1 - tolerance))
    # False position on log(rate), which is close to linear in x (the token step is geometric
    # in x), with the Illinois fix so that one end cannot stay put; kept strictly inside the
    # bracket, and a plain halving whenever the bracket stops shrinking.
    lo, hi = X_MIN, X_MAX
    log_lo, log_hi = math.log(rate(lo)) - math.log(kbps), math.log(rate(hi)) - math.log(kbps)
    side, halve = 0, False
    while len(tried) < max_passes:
        width = hi - lo
        if halve or log_hi <= log_lo:
            mid = lo + width / 2
        else:
            mid = lo - log_lo * width / (log_hi - log_lo)
            mid = min(max(mid, lo + 0.02 * width), hi - 0.02 * width)
        r = rate(mid)
        notify(f"pass {len(tried)}: quality {mid:.3f} -> {r:.2f} kbps")
        if abs(r - kbps) <= tolerance * kbps:
            return done(mid, True)
        log_mid = math.log(r) - math.log(kbps)
        if log_mid < 0:
            lo, log_lo = mid, log_mid
            if side == -1:
                log_hi /= 2
            side = -1
        else:
            hi, log_hi = mid, log_mid
            if side == 1:
                log_lo /= 2
            side = 1
        halve = hi - lo > 0.6 * width  # the bracket barely shrank: halve it next time
    best = min(tried, key=lambda x: abs(tried[x][1].kbps - kbps))
    return done(best, abs(tried[best][1].kbps - kbps) <= 0.10 * kbps)


def encode_at_bitrate_auto(source: str | Path, loaded: LoadedModel, options: EncodeOptions,
                           kbps: float, tolerance: float = 0.05,
                           notify: Callable[[str], None] = lambda m: None,
                           adaptive_defaults: AdaptiveDefaults = ADAPTIVE) -> RateControlResult:
    """Rate control that also chooses the refresh policy.

    Closed-loop adaptive refresh first: on the val clips it gave better quality than one key
    frame at every rate both reach (benchmarks/README.md). Each refresh costs a key frame, so
    adaptive refresh has a floor rate, and its rate can jump past a target as a refresh
    switches on (a short clip's rate moves by a whole key frame); a target it misses gets one
    key frame for the clip instead, if that lands (otherwise whichever lands closer).
    ``options`` must carry no refresh settings of its own.
    """
    passes = 0
    adaptive = encode_at_bitrate(source, loaded,
                                 with_adaptive(options, probe(source).fps, adaptive_defaults),
                                 kbps, tolerance, notify=notify)
    passes += adaptive.passes
    if adaptive.reached:
        return replace(adaptive, policy="adaptive")
    notify(f"adaptive refresh came to {adaptive.result.kbps:.2f} kbps at best; "
           f"trying one key frame for the clip")
    single = encode_at_bitrate(source, loaded, options, kbps, tolerance, notify=notify)
    passes += single.passes
    best = min((adaptive, single), key=lambda rc: abs(rc.result.kbps - kbps))
    if single.reached:
        best = single
    policy = "single key frame" if best is single else "adaptive"
    return replace(best, passes=passes, policy=policy)

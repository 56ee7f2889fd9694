"""Rate control: find the coding parameters that land a whole file on a target bitrate.

Quality is treated as a continuous number x in [X_MIN, X_MAX]: between the levels (0..7) the
token step is interpolated geometrically and the key-frame QP linearly (rounded); beyond
them both are extrapolated (coarser tokens below level 0, where the key frame's QP is already
at its maximum; finer tokens and lower QPs above level 7), so short clips can spend more
bits and long ones fewer. The QP of the rate-distortion refresh test is extrapolated too,
unclamped, so below level 0 adaptive refresh gets rarer. The encoder
runs whole passes over the clip, searching x by false position on the logarithm of the rate
(bracketed, so it cannot diverge), until the file's average rate is within ``tolerance`` of
the target. The encode it repeats is given to it as a callable (options -> Stream: one whole
pass); the caller (Codec.encode) lets every pass after the first reuse the tokens (a token
cache), so a pass costs little more than quantising and entropy coding; with closed-loop
refresh the rebuilt frames depend on x and each pass runs the decoder too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Callable

from . import heap
from .errors import InputError
from .intra import QP_RANGE
from .levels import LEVELS
from .options import ADAPTIVE, AdaptiveDefaults, EncodeOptions, with_adaptive

if TYPE_CHECKING:
    from .audio import AudioSettings, AudioTrack

Notify = Callable[[str], None]
# One whole encode at the given options: a codec.Stream (its ``stats.kbps`` is what rate
# control reads; it returns the Stream it chose with ``rate_control`` set).
Encode = Callable[[EncodeOptions], Any]


def parse_bitrate(text: str | float, option: str = "--bitrate") -> float:
    """'8k', '8 kbps', '8000', '1.5M', or a number of bits per second -> kilobits per second
    (``option``: named in errors)."""
    if isinstance(text, (int, float)):
        kbps = round(float(text) / 1000, 9)  # (8.1k read and given on as 8100.000000000001)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)(?:bps|b/s)?\s*", text)
        if not match:
            raise InputError(f"{option}: cannot read {text!r} (try 8k, 8000 or 1.5M)")
        value = float(match.group(1))
        unit = match.group(2).lower()
        kbps = value if unit == "k" else value * 1000 if unit == "m" else value / 1000
    if not 0.1 <= kbps <= 100000:
        raise InputError(f"{option}: {kbps:g} kbps is out of range (0.1k .. 100M)")
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


@dataclass(frozen=True)
class RateControl:
    """What rate control chose, attached to the Stream it returns."""

    target_kbps: float
    quality: float  # the continuous x chosen
    passes: int
    reached: bool  # within tolerance of the target
    policy: str = "as given"  # the refresh policy: "adaptive", "single key frame" or "as given"
    counts: str = "video"  # what the target counts: "video", or "video and audio"
    end: str | None = None  # "lowest" or "highest": it kept the coarsest or finest settings
    split: "Split | None" = None  # how a whole-file target was shared with the sound

    def to_dict(self) -> dict:
        out = {"target_kbps": self.target_kbps, "rate_control_quality": round(self.quality, 4),
               "rate_control_passes": self.passes, "target_reached": self.reached,
               "refresh_policy": self.policy, "target_counts": self.counts,
               "rate_control_end": self.end}
        if self.split is not None:
            out.update(self.split.to_dict())
        return out


# A whole-file target beside sound (--bitrate): the sound keeps its default rate while that
# leaves the video VIDEO_MIN_KBPS (on the val clips quality 0 comes to 1.5 kbps, the default
# quality 3 to 3.2); below, it is lowered toward Opus's lowest, 6k (speech still intelligible:
# STOI 0.89, docs/cli.md "Sound"), to leave the video that much. A target that leaves the video
# under MIN_VIDEO_SHARE of it even then, or beside a sound rate given, is refused.
VIDEO_MIN_KBPS = 2.0
MIN_VIDEO_SHARE = 0.1


@dataclass(frozen=True)
class Split:
    """How a whole-file target was shared: the sound's part of it (its bytes over the file's
    length), the video's target (over its own length), the Opus rate the sound was coded at,
    and why: "default" (its default rate fitted), "lowered" (lowered to leave the video its
    minimum) or "as given" (a rate given is kept)."""

    sound_kbps: float
    video_kbps: float
    audio_bitrate: int
    choice: str

    def to_dict(self) -> dict:
        return {"audio_share_kbps": round(self.sound_kbps, 4),
                "video_target_kbps": round(self.video_kbps, 4),
                "audio_bitrate": self.audio_bitrate, "audio_bitrate_choice": self.choice}


def share_with_sound(kbps: float, track: "AudioTrack", settings: "AudioSettings",
                     video_seconds: float, recode: Callable[["AudioSettings"], "AudioTrack"],
                     notify: Notify = lambda m: None) -> tuple["AudioTrack", Split]:
    """The sound (``track``, coded at ``settings``) and the video's share of a target of
    ``kbps`` for the whole file, the video lasting ``video_seconds``: the sound lowered
    (``recode`` codes it again at other settings) when its default rate leaves the video
    under VIDEO_MIN_KBPS; InputError for a target no split reaches."""
    from .audio import BITRATE_RANGE, DEFAULT_BITRATE, RATE, file_seconds

    def shares(t: "AudioTrack") -> tuple[float, float]:
        whole = file_seconds(video_seconds, t.header.start / RATE, t.seconds)
        sound = t.bytes * 8 / 1000 / max(whole, 1e-3)
        return sound, (kbps - sound) * (whole / max(video_seconds, 1e-3))

    sound, video = shares(track)
    floor = MIN_VIDEO_SHARE * kbps
    if settings.bitrate is not None:
        if kbps - sound < floor:
            raise InputError(f"--bitrate {kbps:g}k leaves the video {kbps - sound:.2f} kbps beside "
                             f"the sound's {sound:.2f} (--audio-bitrate {settings.rate / 1000:g}k "
                             f"as given); raise --bitrate, lower --audio-bitrate (down to "
                             f"{BITRATE_RANGE[0] // 1000}k), or give --video-bitrate")
        notify(f"the sound takes {sound:.2f} kbps: the video aims at {video:.2f} kbps")
        return track, Split(sound, video, settings.rate, "as given")
    want = max(VIDEO_MIN_KBPS, floor)
    rate, lowest = settings.rate, BITRATE_RANGE[0]
    if kbps - sound >= want:
        notify(f"the sound takes {sound:.2f} kbps: the video aims at {video:.2f} kbps")
        return track, Split(sound, video, rate, "default")
    for _ in range(3):  # Opus's rate follows its target closely: one recode mostly lands
        goal = max(kbps - want, 0.0)
        lower = min(rate, max(lowest, int(rate * goal / sound) // 100 * 100))
        if lower == rate:
            break
        rate = lower
        track = recode(replace(settings, bitrate=rate))
        sound, video = shares(track)
        if kbps - sound >= want or rate == lowest:
            break
    if kbps - sound < floor:
        need = math.ceil(round(sound / (1 - MIN_VIDEO_SHARE) * 10, 6)) / 10  # 0.1k steps
        raise InputError(f"--bitrate {kbps:g}k cannot hold the sound even at its lowest "
                         f"({rate / 1000:g}k Opus takes {sound:.2f} kbps) and the video; with "
                         f"sound, aim at {need:g}k or more, or give --no-audio")
    notify(f"the sound takes {sound:.2f} kbps (lowered from {DEFAULT_BITRATE / 1000:g}k to "
           f"{rate / 1000:g}k Opus): the video aims at {video:.2f} kbps")
    return track, Split(sound, video, rate, "lowered")


def encode_at_bitrate(encode: Encode, options: EncodeOptions, kbps: float,
                      tolerance: float = 0.05, max_passes: int = 14,
                      notify: Notify = lambda m: None) -> Any:
    """Searches x for ``options`` (their refresh rule as given), encoding with ``encode``,
    until the file lands within ``tolerance`` of ``kbps``; the Stream closest to it, with its
    ``rate_control``."""
    tried: dict[float, Any] = {}

    def rate(x: float) -> float:
        if x not in tried:
            tried[x] = encode(parameters_at(x, options))
            heap.trim()  # (what the pass freed back to the system: the next would pile up)
        return tried[x].stats.kbps

    def done(x: float, reached: bool, end: str | None = None) -> Any:
        return replace(tried[x], rate_control=RateControl(kbps, x, len(tried), reached, end=end))

    if rate(X_MIN) >= kbps * (1 - tolerance):
        return done(X_MIN, rate(X_MIN) <= kbps * (1 + tolerance), "lowest")
    if rate(X_MAX) <= kbps * (1 + tolerance):
        return done(X_MAX, rate(X_MAX) >= kbps * (1 - tolerance), "highest")
    x = _search(rate, kbps, tolerance, max_passes, lambda: len(tried), notify)
    if x is not None:
        return done(x, True)
    best = min(tried, key=lambda x: abs(tried[x].stats.kbps - kbps))
    return done(best, abs(tried[best].stats.kbps - kbps) <= 0.10 * kbps)


def _search(rate: Callable[[float], float], kbps: float, tolerance: float, max_passes: int,
            passes: Callable[[], int], notify: Notify) -> float | None:
    """False position on log(rate), which is close to linear in x (the token step is geometric
    in x), with the Illinois fix so that one end cannot stay put; kept strictly inside the
    bracket, and a plain halving whenever the bracket stops shrinking. The x that lands
    within tolerance, or None when the passes run out."""
    lo, hi = X_MIN, X_MAX
    log_lo, log_hi = math.log(rate(lo)) - math.log(kbps), math.log(rate(hi)) - math.log(kbps)
    side, halve = 0, False
    while passes() < max_passes:
        width = hi - lo
        if halve or log_hi <= log_lo:
            mid = lo + width / 2
        else:
            mid = lo - log_lo * width / (log_hi - log_lo)
            mid = min(max(mid, lo + 0.02 * width), hi - 0.02 * width)
        r = rate(mid)
        notify(f"pass {passes()}: quality {mid:.3f} -> {r:.2f} kbps")
        if abs(r - kbps) <= tolerance * kbps:
            return mid
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
    return None


def encode_at_bitrate_auto(encode: Encode, options: EncodeOptions, fps: Fraction | float,
                           kbps: float, tolerance: float = 0.05, notify: Notify = lambda m: None,
                           adaptive_defaults: AdaptiveDefaults = ADAPTIVE) -> Any:
    """Rate control that also chooses the refresh policy.

    Closed-loop adaptive refresh first: on the val clips it gave better quality than one key
    frame at every rate both reach (benchmarks/CHANGELOG.md). Each refresh costs a key frame, so
    adaptive refresh has a floor rate, and its rate can jump past a target as a refresh
    switches on (a short clip's rate moves by a whole key frame); a target it misses gets one
    key frame for the clip instead, if that lands (otherwise whichever lands closer).
    ``options`` must carry no refresh settings of its own.
    """
    adaptive = encode_at_bitrate(encode, with_adaptive(options, fps, adaptive_defaults), kbps,
                                 tolerance, notify=notify)
    if adaptive.rate_control.reached:
        return replace(adaptive, rate_control=replace(adaptive.rate_control, policy="adaptive"))
    notify(f"adaptive refresh came to {adaptive.stats.kbps:.2f} kbps at best; "
           f"trying one key frame for the clip")
    single = encode_at_bitrate(encode, options, kbps, tolerance, notify=notify)
    passes = adaptive.rate_control.passes + single.rate_control.passes
    best = min((adaptive, single), key=lambda stream: abs(stream.stats.kbps - kbps))
    if single.rate_control.reached:
        best = single
    policy = "single key frame" if best is single else "adaptive"
    return replace(best, rate_control=replace(best.rate_control, passes=passes, policy=policy))


def encode_to_bitrate(encode: Encode, options: EncodeOptions, fps: Fraction | float, kbps: float,
                      choose_refresh: bool, notify: Notify = lambda m: None) -> Any:
    """The policy: with no key-frame rule given (``choose_refresh``), rate control chooses
    the refresh policy too; otherwise it keeps the rule given and searches the rest."""
    heap.bound()  # each pass's large buffers back to the system when freed (heap.py)
    if choose_refresh:
        return encode_at_bitrate_auto(encode, options, fps, kbps, notify=notify)
    return encode_at_bitrate(encode, options, kbps, notify=notify)

"""What an encode is asked to do: the user's settings, and the options the encoder runs with.

``EncodeSettings`` are the choices a user makes (the command line's encode options, the API's
keyword arguments), before the clip is known. ``EncodeOptions`` are what the encoder runs
with once the clip's frame rate is known (``--adaptive`` is a number of frames); rate control
derives new options from them (ratecontrol.parameters_at). Both are frozen: an encode never
changes its options as it goes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from .intra import IntraCodec
from .levels import DEFAULT_QUALITY, LEVELS, level

KEY_PLACEMENTS = ("centre", "start")
FITS = ("crop", "pad")


@dataclass(frozen=True)
class AdaptiveDefaults:
    """What `--adaptive` turns on; chosen by measurement on the val clips (docs/adaptive.md)."""

    refresh_threshold: float | None = None  # PSNR floor (dB) of the rebuilt frame (off: R-D)
    refresh_lambda: float | None = 1000.0  # rate-distortion refresh (refresh.refresh_lambda_at)
    max_keyframe_seconds: float = 10.0
    min_refresh_seconds: float = 0.5
    scene_cut: float = 0.15  # mean absolute grey change between consecutive source frames


ADAPTIVE = AdaptiveDefaults()


DEFAULT_HOLD = 0.25  # measured on val with imf-flow (docs/flow.md)


@dataclass(frozen=True)
class EncodeOptions:
    quality: int = DEFAULT_QUALITY
    keyframe_interval: int = 0  # a key frame every N frames (0: only the first)
    fit: str = "crop"
    intra_codec: IntraCodec = IntraCodec.HEVC
    chunk_seconds: float = 1.0
    # Closed-loop refresh: a new key frame when the rebuilt frame's PSNR (dB) falls below this,
    refresh_threshold: float | None = None
    # or when the squared error a refresh would save over a second outweighs the key frame's
    # bits times refresh_lambda_at(this, QP) (the rate-distortion decision, docs/adaptive.md).
    refresh_lambda: float | None = None
    max_keyframe_interval: int = 0  # refresh at the latest after this many frames (0: never)
    min_refresh_gap: int = 0  # frames at least from the last key frame to a threshold refresh
    scene_cut: float | None = None  # mean absolute change between source frames, in [0, 1]
    # Overrides of the quality level's parameters (set by rate control).
    token_step: float | None = None
    intra_qp: int | None = None
    # The HEVC-scale QP the R-D test's lambda is taken at (None: the key frame's QP). Rate
    # control continues it past QP 51 below level 0, where the key frame's QP cannot follow,
    # so that coarser settings also make refreshes rarer.
    rd_qp: float | None = None
    # Encoder-side token refinement: gradient steps per frame fitting the token to the frame
    # through the decoder (imfcodec/refine.py); 0 keeps the motion model's own tokens.
    refine_steps: int = 0
    # Quantiser hysteresis, in steps: a token number keeps its previous level while within
    # this much beyond that level's cell (entropy/quantize.py; 0: plain rounding).
    hold: float = DEFAULT_HOLD
    # Where a run's key frame goes: "centre", the frame nearest the run's mean picture (two
    # passes; the key frame is sent ahead of the frames before it), or "start", the run's
    # first frame (one pass, frames in order).
    key_placement: str = "centre"
    # Key frames the frames may be rebuilt from: the last R the decoder holds (1: the run's own
    # key frame only; at most bitstream.MAX_REFERENCES).
    references: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.references <= 4:
            raise ValueError(f"references must be 1..4, got {self.references}")
        if self.key_placement not in KEY_PLACEMENTS:
            raise ValueError(f"key placement must be one of {KEY_PLACEMENTS}, got {self.key_placement!r}")
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, got {self.fit!r}")
        level(self.quality)  # raises for a level outside 0..7

    def step(self) -> float:
        return self.token_step if self.token_step is not None else level(self.quality).token_step

    def passes(self) -> int:
        """How many times the encoder goes over the frames (and calls its progress for each)."""
        return 2 if self.key_placement == "centre" else 1

    def qp(self) -> int:
        return self.intra_qp if self.intra_qp is not None else level(self.quality).intra_qp(self.intra_codec)

    @property
    def closed_loop(self) -> bool:
        """Whether the encoder rebuilds frames to decide on refreshes."""
        return self.refresh_threshold is not None or self.refresh_lambda is not None


def with_adaptive(options: EncodeOptions, fps: Fraction | float,
                  defaults: AdaptiveDefaults = ADAPTIVE) -> EncodeOptions:
    """Turns on closed-loop refresh, the interval cap and scene cuts (`--adaptive`)."""
    rate = float(fps)
    return replace(options, refresh_threshold=defaults.refresh_threshold,
                   refresh_lambda=defaults.refresh_lambda,
                   max_keyframe_interval=round(defaults.max_keyframe_seconds * rate),
                   min_refresh_gap=max(1, round(defaults.min_refresh_seconds * rate)),
                   scene_cut=defaults.scene_cut)


@dataclass(frozen=True)
class EncodeSettings:
    """Every encode option of the command line, by the same names (``Codec.encode``'s keyword
    arguments). None means "not given": a refresh rule given replaces `--adaptive`'s."""

    quality: int = DEFAULT_QUALITY
    adaptive: bool = False
    keyframe_interval: int = 0
    fit: str = "crop"
    intra: str = "hevc"  # or "av1"
    refresh_threshold: float | None = None
    refresh_lambda: float | None = None
    max_keyframe_interval: int | None = None
    scene_cut: float | None = None
    refine: int = 0
    key_placement: str = "centre"
    references: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.quality < len(LEVELS):
            raise ValueError(f"quality must be 0..{len(LEVELS) - 1}, got {self.quality}")
        if self.intra.upper() not in IntraCodec.__members__:
            raise ValueError(f"intra must be 'hevc' or 'av1', got {self.intra!r}")
        if self.refine < 0 or self.keyframe_interval < 0:
            raise ValueError("refine and keyframe_interval must not be negative")

    def refresh_given(self) -> bool:
        """Whether any key-frame rule was asked for (rate control then keeps it as given)."""
        return bool(self.adaptive or self.keyframe_interval) or any(
            v is not None for v in (self.refresh_threshold, self.refresh_lambda,
                                    self.max_keyframe_interval, self.scene_cut))

    def options(self, fps: Fraction | float) -> EncodeOptions:
        """The encoder's options for a clip at ``fps`` frames a second."""
        options = EncodeOptions(quality=self.quality, keyframe_interval=self.keyframe_interval,
                                fit=self.fit, intra_codec=IntraCodec[self.intra.upper()],
                                refine_steps=self.refine, key_placement=self.key_placement,
                                references=self.references)
        if self.adaptive:
            options = with_adaptive(options, fps)
        if self.refresh_threshold is not None or self.refresh_lambda is not None:
            # A rule given replaces the default one.
            gap = options.min_refresh_gap or max(1, round(ADAPTIVE.min_refresh_seconds * float(fps)))
            options = replace(options, refresh_threshold=self.refresh_threshold,
                              refresh_lambda=self.refresh_lambda, min_refresh_gap=gap)
        if self.max_keyframe_interval is not None:
            options = replace(options, max_keyframe_interval=self.max_keyframe_interval)
        if self.scene_cut is not None:
            options = replace(options, scene_cut=self.scene_cut)
        return options

"""What an encode is asked to do: the user's settings, and the options the encoder runs with.

``EncodeSettings`` are the choices a user makes (the command line's encode options, the API's
keyword arguments), before the clip is known. ``EncodeOptions`` are what the encoder runs
with once the clip's frame rate is known (``--adaptive`` is a number of frames); rate control
derives new options from them (ratecontrol.parameters_at). Both are frozen: an encode never
changes its options as it goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

from .bitstream import MAX_REFERENCES
from .intra import IntraCodec
from .levels import DEFAULT_QUALITY, LEVELS, level
from .optionspec import check, setting

# Each choice and bound once: the settings below, the encoder's options and the bench read these.
KEY_PLACEMENTS = ("centre", "start")
FITS = ("crop", "pad")
INTRA_CODECS = tuple(c.name.lower() for c in IntraCodec)
QUALITY_RANGE = (0, len(LEVELS) - 1)
MAX_REFINE_STEPS = 1000


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
class Tuning:
    """The encoder's measured constants: what benchmarks and tests vary (through the options,
    never by patching a module). The defaults are what ships."""

    # Seconds a refresh is judged over by the R-D test. 2 s measured better on train/ clips
    # with several references but worse on val/ in MS-SSIM (docs/references.md "The refresh
    # horizon"), so it is 1 s for every reference count.
    refresh_horizon: float = 1.0
    # Several references: a batch moves to another held key frame when that rebuilds it with
    # this share less squared error than the current one (a switch codes the next token whole).
    switch_gain: float = 0.1
    # A predicted key frame's size as a share of an intra one's at the same QP: the R-D
    # refresh's estimate of a refresh's cost until the encode has coded one (then: the last
    # one's size). Measured on train/ clips, key frames 1 s apart: 0.37 at QP 27, 0.28 at 35,
    # 0.22 at 43.
    predicted_key_share: float = 0.3
    # Refinement's price of a token bit, in reconstruction error per estimated bit, per unit
    # of token step (so finer levels weigh the rate less); measured in docs/refine.md.
    refine_rate_weight: float = 1e-3
    # A picture wider or taller than its motion region sends the whole picture's global motion
    # (format 8.0, motion/camera.py): measured in docs/size.md. False: the outside stands still.
    global_motion: bool = True
    # Frames between two closed-loop refresh tests (1: every frame). A test rebuilds the frame
    # as the decoder will, which doubles a frame's encode time; a live stream (live/encoder.py)
    # tests every few frames to keep up with real time.
    refresh_stride: int = 1
    # The R-D refresh's estimate of a refresh's cost, once predicted key frames have been
    # coded: the mean size of the last this many (1: the last one's, what files use).
    refresh_cost_memory: int = 1
    # A live stream that may rebuild a frame between its neighbours (LiveSettings.interpolate,
    # format 11.0) does so where that rebuilds it with at most this share more squared error
    # than its own token. Measured on 8 train/ clips against sending every token (BD-rate in
    # MS-SSIM, benchmarks/studies/live_refresh.py): 0: -11.5 %, 0.05: -12.3 %, 0.15: -12.9 %,
    # 0.3: -12.7 %, 0.6: -12.4 %.
    between_tolerance: float = 0.15
    # x265's preset for the key frames (None: intra.HEVC_TUNING's, veryslow). A live stream
    # larger than the model's square takes "medium" (live/encoder.py, LIVE_KEY_PRESET): at
    # 1280x720 veryslow took 300-770 ms a predicted key frame, medium 35-54 ms, for 3-14 %
    # more bytes (docs/live.md).
    key_preset: str | None = None
    # A live stream with a latency budget (LiveSettings.delay): the share of it that frames
    # wait so that each run's key frame is chosen among them; the rest is for records of
    # several frames (live/encoder.py, delay_frames). Measured on 8 train/ clips against no
    # budget (BD-rate in MS-SSIM, benchmarks/studies/live_refresh.py, docs/live.md): with 2 s,
    # 0.5: -16.0 %, 0.6: -16.1 %, 0.75: -20.9 %, 0.9: -13.9 %, 1 (records of one frame): -9.7 %;
    # with 1 s, 0.5: -9.3 %, 0.75: -10.4 %, 1: -6.9 %.
    lookahead_share: float = 0.75

    def __post_init__(self) -> None:
        if self.refresh_horizon <= 0 or not 0 <= self.switch_gain < 1 or \
                self.predicted_key_share <= 0 or self.refine_rate_weight < 0 or \
                self.refresh_stride < 1 or self.refresh_cost_memory < 1 or \
                self.between_tolerance < 0 or not 0 < self.lookahead_share <= 1:
            raise ValueError(f"tuning out of range: {self}")


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
    tuning: Tuning = field(default_factory=Tuning)

    def __post_init__(self) -> None:
        if not 1 <= self.references <= MAX_REFERENCES:
            raise ValueError(f"references must be 1..{MAX_REFERENCES}, got {self.references}")
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
    arguments), each declared once with its bounds, default and help (optionspec.py: the
    command line and docs/options.md are made from these). None means "not given": a refresh
    rule given replaces `--adaptive`'s."""

    quality: int = setting(DEFAULT_QUALITY, "0 = lowest rate .. 7 = best quality.", short="-q",
                           low=QUALITY_RANGE[0], high=QUALITY_RANGE[1])
    adaptive: bool = setting(False, "Closed-loop key frames with the measured defaults "
                                    "(docs/adaptive.md).")
    keyframe_interval: int = setting(0, "Also code every N-th frame as a key frame (0: only the "
                                        "first).", low=0)
    size: str | None = setting(
        None, "The output picture: fitted inside WIDTHxHEIGHT, keeping the aspect ratio (a "
              "square, e.g. 256x256: a square picture, by --fit). Default: the input's own "
              "size, scaled down to fit 1920x1080.", metavar="WxH")
    fit: str = setting("crop", "For a square picture (--size NxN, or an input under 64 pixels a "
                               "side): centre square crop, or pad to square keeping the whole "
                               "picture.", choices=FITS)
    intra: str = setting("hevc", "Codec of the key frames.", choices=INTRA_CODECS)
    refresh_threshold: float | None = setting(None, "New key frame when a rebuilt frame's PSNR "
                                                    "falls below this many dB.")
    refresh_lambda: float | None = setting(
        None, "New key frame when the error it saves over a second outweighs its bits times "
              "this (scaled by the key frame's QP; docs/adaptive.md).", low=0)
    max_keyframe_interval: int | None = setting(None, "Frames at most between key frames (0: no "
                                                      "limit).", low=0)
    scene_cut: float | None = setting(None, "New key frame when the mean grey change between "
                                            "frames exceeds this.", low=0, high=1)
    refine: int = setting(0, "Encoder effort: fit each token to its frame through the decoder "
                             "with N gradient steps (slower encodes, better pictures; decoding "
                             "is unchanged; docs/refine.md).", low=0, high=MAX_REFINE_STEPS)
    key_placement: str = setting(
        "centre", "Which frame of each run between key frames is the key frame: the one nearest "
                  "the run's mean picture (two passes; better pictures at the same rate) or the "
                  "run's first (one pass, frames in order; docs/keyplace.md).",
        choices=KEY_PLACEMENTS)
    references: int = setting(1, "Key frames each frame may be rebuilt from: the last R sent "
                                 "(the decoder holds them); 1 keeps each run on its own key "
                                 "frame (docs/references.md).", low=1, high=MAX_REFERENCES)
    tuning: Tuning = setting(Tuning(), "The encoder's measured constants (options.Tuning).",
                             cli=False)

    def __post_init__(self) -> None:
        check(self)

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
                                references=self.references, tuning=self.tuning)
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

"""Rate-distortion sweeps: every codec and setting on every clip, measured the same way."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio import AudioSettings, encode_audio
from ..bitstream import MAX_REFERENCES
from ..codec import Codec
from ..errors import InputError
from ..layout import plan
from ..levels import LEVELS
from ..metrics import frame_to_frame_psnr, quality_frames
from ..motion.static import StaticMotion
from ..options import ADAPTIVE, AdaptiveDefaults, EncodeOptions, Tuning, with_adaptive
from ..ratecontrol import parameters_at
from ..source import Source
from .anchors import ANCHORS, DIVISORS, MIN_SIDE, code, reduced_size, scaled_name

# imfcodec's modes: one key frame a clip, closed-loop refresh (`--adaptive`), both with the
# codec's model; and "static", the built-in model that shows the key frame throughout (one
# key frame a clip), the floor every motion model must beat.
IMF_MODES = ("imf", "imf-adaptive")
MODES = ("static",) + IMF_MODES
# imfcodec settings the bench measures by default: the quality levels 0..7, in every mode.
# Rate control's coarser settings below level 0 (x = -4..-1, `--qualities -4,-3,-2,-1`) are
# left out: with one key frame they only coarsen an already tiny token stream, and with the
# rate-distortion refresh rule adaptive refresh at level 0 already refreshes almost never, so
# on the val clips x = -4..-1 came to 0.90..0.97 kbps, between one key frame's q0 (0.96) and
# adaptive q0 (1.00) (benchmarks/val/results.json of 2026-12-01). Leaving them out keeps the
# bench within its 30 minutes (benchmarks/CHANGELOG.md).
DEFAULT_SETTINGS = tuple(range(len(LEVELS)))
SETTING_RANGE = (-4, len(LEVELS) - 1)


def parse_codecs(text: str) -> list[str]:
    """'static,imf,x265' -> the names, each checked (InputError for an unknown one)."""
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in MODES and c not in ANCHORS]
    if unknown or not names:
        raise InputError(f"unknown codec(s) {', '.join(unknown) or '(none)'}; choose from "
                         f"{', '.join(MODES + tuple(ANCHORS))}")
    return names


def parse_settings(text: str | None) -> list[int] | None:
    """'0,2,4' -> imfcodec settings (levels 0..7, and -4..-1 below them); None: the default."""
    if not text:
        return None
    try:
        levels = [int(q) for q in text.split(",")]
    except ValueError:
        raise InputError(f"--qualities takes comma-separated integers, got {text!r}") from None
    lo, hi = SETTING_RANGE
    if not all(lo <= q <= hi for q in levels):
        raise InputError(f"--qualities must be within {lo}..{hi}")
    return levels


def parse_references(text: str) -> list[int]:
    """'1,4' -> reference-set sizes, each 1..MAX_REFERENCES, in the order given, no repeats."""
    try:
        counts = [int(r) for r in str(text).split(",")]
    except ValueError:
        raise InputError(f"--references takes comma-separated integers, got {text!r}") from None
    if not all(1 <= r <= MAX_REFERENCES for r in counts) or len(set(counts)) != len(counts):
        raise InputError(f"--references takes distinct numbers within 1..{MAX_REFERENCES}, got {text!r}")
    return counts


def parse_divisors(text: str) -> list[int]:
    """'1,2,3,4' -> the sizes SVT-AV1 is coded at: each side divided by these (1: full size)."""
    try:
        divisors = [int(d) for d in str(text).split(",")]
    except ValueError:
        raise InputError(f"--svtav1-sizes takes comma-separated integers, got {text!r}") from None
    if not all(1 <= d <= 8 for d in divisors) or len(set(divisors)) != len(divisors):
        raise InputError(f"--svtav1-sizes takes distinct divisors within 1..8, got {text!r}")
    return divisors


def setting_name(q: int) -> str:
    return f"q{q}" if q >= 0 else f"x{q}"


@dataclass
class Row:
    """One clip coded by one codec at one setting."""

    clip: str
    codec: str
    setting: str  # "q3" for imfcodec, "crf35" for anchors
    param: int
    frames: int
    fps: float
    width: int
    height: int
    bytes: int
    kbps: float
    bpp: float
    psnr: float
    msssim: float
    encode_s: float
    decode_s: float
    # temporal stability: mean PSNR between consecutive decoded frames, and the source's
    f2f_psnr: float = float("nan")
    source_f2f_psnr: float = float("nan")
    # the clip's sound at the default audio settings, beside (never in) ``kbps``: 0 without
    audio_kbps: float = 0.0
    # VMAF and VMAF-NEG (metrics.VMAF_MODELS), NaN where the bench ran without them
    vmaf: float = float("nan")
    vmaf_neg: float = float("nan")
    # every metric frame by frame ({"psnr": [...], ...}): in results.json, not in the CSV
    per_frame: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        return asdict(self)


def load_clip(path: Path | Source, size: int, max_frames: int | None) -> Source:
    """A clip's first ``max_frames`` frames (all with None), held in memory for every sweep,
    at the picture size imfcodec codes it at by default (layout.plan: its own, up to
    1920x1080), so that every codec is measured on the same frames at that size."""
    source = Source.of(path, size, "crop")
    planned = plan(source.info.width, source.info.height, size)
    frames = source.fitted(planned.read, "crop").read(max_frames)
    return Source.from_frames(frames, source.fps, Path(source.name).name, source.source_size)


def _row(clip: Source, codec: str, setting: str, param: int, size: int, decoded: list,
         encode_s: float, decode_s: float, vmaf: bool = True) -> Row:
    frames = clip.read()
    n = len(frames)
    seconds = n / float(clip.fps)
    height, width = frames[0].shape[:2]
    per_frame = quality_frames(frames, decoded, vmaf)
    mean = {k: float(np.mean(v)) for k, v in per_frame.items()}
    return Row(clip.name, codec, setting, param, n, float(clip.fps), width, height, size,
               size * 8 / 1000 / seconds, size * 8 / (n * width * height), mean["psnr"],
               mean["msssim"], round(encode_s, 4), round(decode_s, 4),
               frame_to_frame_psnr(decoded), frame_to_frame_psnr(frames),
               vmaf=mean.get("vmaf", float("nan")), vmaf_neg=mean.get("vmaf_neg", float("nan")),
               per_frame={k: [round(float(x), 4) for x in v] for k, v in per_frame.items()})


def sound_kbps(path: Path | Source) -> float:
    """What a clip's sound costs coded as an encode codes it by default (audio.AudioSettings),
    over the sound's own length; 0 for a clip without sound (or frames in memory). The rate
    curves stay video-only, comparable with the anchors', and show this beside them."""
    path = path.path if isinstance(path, Source) else path
    track = encode_audio(path, 0.0, AudioSettings()) if path is not None else None
    return track.bytes * 8 / 1000 / track.seconds if track is not None and track.seconds else 0.0


def encode_tokens(clip: Source, codec: Codec) -> tuple[dict | None, float]:
    """Every frame's token, once per clip, and the seconds that took: where a token depends
    only on its source frame, every quality level and mode of the sweep shares them. Where it
    depends on the decoded key frame too (the flow model), there is nothing to share: (None, 0),
    and each row analyses its frames itself, in its own encode time."""
    if codec.model.analysis_uses_reference:
        return None, 0.0
    cache: dict = {}
    t0 = time.perf_counter()
    codec.encode(clip, options=EncodeOptions(key_placement="start"), token_cache=cache)
    return cache, time.perf_counter() - t0


def sweep_imf(clip: Source, codec: Codec, qualities: list[int], mode: str = "imf",
              adaptive: AdaptiveDefaults = ADAPTIVE,
              tokens: tuple[dict, float] | None = None, refine_steps: int = 0,
              key_placement: str = "centre", references: int = 1,
              tuning: Tuning = Tuning(), vmaf: bool = True) -> list[Row]:
    """'imf' and 'static': one key frame for the clip; 'imf-adaptive': closed-loop refresh
    (`--adaptive`); ``tuning``: the encoder's measured constants (what studies vary).

    Each setting runs the real encoder and decoder. The motion model's analysis runs once
    per clip (``tokens``, from encode_tokens) and its time is added to every row's encode
    time, so a row's encode time is what a standalone encode of that setting costs.
    """
    cache, token_s = tokens if tokens is not None else encode_tokens(clip, codec)
    rows = []
    for q in qualities:
        # Levels 0..7 are --quality; below 0 are the coarser settings --bitrate reaches.
        options = EncodeOptions(quality=q) if q >= 0 else parameters_at(q, EncodeOptions())
        if mode == "imf-adaptive":
            options = with_adaptive(options, clip.fps, adaptive)
        options = replace(options, refine_steps=refine_steps, key_placement=key_placement,
                          references=references, tuning=tuning)
        t0 = time.perf_counter()
        stream = codec.encode(clip, options=options, token_cache=cache)
        encode_s = time.perf_counter() - t0 + token_s
        t0 = time.perf_counter()
        decoded = list(codec.decode(stream))
        decode_s = time.perf_counter() - t0
        rows.append(_row(clip, mode, setting_name(q), q, len(stream.data), decoded, encode_s,
                         decode_s, vmaf))
    return rows


def sweep_anchor(clip: Source, name: str, crfs: list[int] | None = None, divisor: int = 1,
                 vmaf: bool = True) -> list[Row]:
    """An anchor at each CRF; with ``divisor`` > 1 coded at a reduced size and scaled back up
    (anchors.code), its rows named "svtav1@1/2" and so on."""
    anchor = ANCHORS[name]
    rows = []
    for crf in crfs or anchor.crfs:
        coded = code(anchor, clip.read(), clip.fps, crf, divisor)
        rows.append(_row(clip, scaled_name(name, divisor), f"crf{crf}", crf, coded.bytes,
                         coded.frames, coded.encode_s, coded.decode_s, vmaf))
    return rows


def anchor_divisors(name: str, svtav1_sizes: list[int]) -> list[int]:
    """The sizes an anchor is coded at: SVT-AV1 at each of ``svtav1_sizes``, the others at
    full size only."""
    return list(svtav1_sizes) if name == "svtav1" else [1]


def label(mode: str, model: str | None, references: int = 1) -> str:
    """A row's codec name: the imf mode alone when the bench measures one model; with
    several, the model's name ("imf-flow", "imf-flow-adaptive"); with several references,
    their number after it ("imf-adaptive-r4")."""
    name = mode if model is None else (model if mode == "imf" else f"{model}-adaptive")
    return name if references == 1 else f"{name}-r{references}"


def reference_counts(mode: str, references: list[int]) -> list[int]:
    """The reference-set sizes a mode is measured with: adaptive refresh with each asked
    for; one key frame a clip holds one reference, so the other modes once, with R = 1."""
    return list(references) if mode == "imf-adaptive" else [1]


def our_labels(codecs: list[str], models: list[Codec], references: list[int] = (1,)) -> list[str]:
    """The row names of imfcodec's modes in a bench of ``codecs`` over ``models``, in order."""
    several = len(models) > 1
    return [label(mode, c.model.name if several else None, r)
            for c in models for mode in IMF_MODES if mode in codecs
            for r in reference_counts(mode, references)]


def run(clips: list[Path | Source], codecs: list[str], models: list[Codec],
        qualities: list[int] | None, max_frames: int | None,
        notify: Callable[[str], None] = lambda message: None, refine_steps: int = 0,
        key_placement: str = "centre", references: list[int] = (1,),
        svtav1_sizes: list[int] = DIVISORS, vmaf: bool = True) -> list[Row]:
    """Every codec on every clip; anchors missing from this FFmpeg build are skipped (notify).
    Each of ``models`` runs the imf modes (rows named by ``label``), adaptive refresh once
    for each of ``references`` (reference-set sizes); "static" runs the built-in static
    model at the first model's size; SVT-AV1 runs at each of ``svtav1_sizes`` (divisors of
    each side). ``vmaf``: measure VMAF and VMAF-NEG beside PSNR and MS-SSIM."""
    size = models[0].model.image_size if models else 256
    usable = []
    for name in codecs:
        if name not in MODES and not ANCHORS[name].available():
            notify(f"{name}: encoder or decoder missing from this FFmpeg build; skipped")
            continue
        usable.append(name)
    static = Codec(StaticMotion(image_size=size))
    rows: list[Row] = []
    for path in clips:
        clip = load_clip(path, size, max_frames)
        if clip.info.frames < 1:
            notify(f"{clip.name}: no frames; skipped")
            continue
        sound = sound_kbps(path)
        start = len(rows)
        tokens: dict = {}  # model digest -> the clip's tokens, shared by that model's modes
        for name in usable:
            notify(f"{clip.name}: {name}")
            settings = qualities or list(DEFAULT_SETTINGS)
            if name == "static":
                rows += sweep_imf(clip, static, settings, name, refine_steps=0,
                                  key_placement=key_placement, vmaf=vmaf)
            elif name in IMF_MODES:
                for codec in models:
                    if codec.model.image_size != size:
                        raise InputError("the bench's models must share one image size")
                    key = codec.model.digest
                    tokens[key] = tokens.get(key) or encode_tokens(clip, codec)
                    model = codec.model.name if len(models) > 1 else None
                    for count in reference_counts(name, references):
                        found = sweep_imf(clip, codec, settings, name, tokens=tokens[key],
                                          refine_steps=refine_steps, key_placement=key_placement,
                                          references=count, vmaf=vmaf)
                        rows += [replace(r, codec=label(name, model, count)) for r in found]
            else:
                for divisor in anchor_divisors(name, svtav1_sizes):
                    height, width = clip.read(1)[0].shape[:2]
                    if min(reduced_size(width, height, divisor)) < MIN_SIDE:
                        notify(f"{clip.name}: {scaled_name(name, divisor)} would be under "
                               f"{MIN_SIDE} pixels a side; skipped")
                        continue
                    rows += sweep_anchor(clip, name, divisor=divisor, vmaf=vmaf)
        rows[start:] = [replace(r, audio_kbps=sound) if not is_anchor(r.codec) else r
                        for r in rows[start:]]
    return rows


def is_anchor(codec: str) -> bool:
    """Whether a row's codec is a conventional anchor ("x265", "svtav1@1/2")."""
    return codec.split("@")[0] in ANCHORS


def mean_curves(rows: list[Row]) -> dict[str, list[dict]]:
    """Per codec, per setting: kbps, PSNR, MS-SSIM, VMAF and VMAF-NEG averaged over the clips
    (settings that every clip has), sorted by rate."""
    clips = sorted({r.clip for r in rows})
    curves: dict[str, list[dict]] = {}
    for codec in dict.fromkeys(r.codec for r in rows):
        points = []
        for setting in dict.fromkeys(r.setting for r in rows if r.codec == codec):
            sel = [r for r in rows if r.codec == codec and r.setting == setting]
            if len(sel) != len(clips):
                continue
            points.append({
                "setting": setting,
                "kbps": float(np.mean([r.kbps for r in sel])),
                "audio_kbps": float(np.mean([r.audio_kbps for r in sel])),
                "bpp": float(np.mean([r.bpp for r in sel])),
                "psnr": float(np.mean([r.psnr for r in sel])),
                "msssim": float(np.mean([r.msssim for r in sel])),
                "vmaf": float(np.mean([r.vmaf for r in sel])),
                "vmaf_neg": float(np.mean([r.vmaf_neg for r in sel])),
                "f2f_psnr": float(np.mean([r.f2f_psnr for r in sel])),
                "source_f2f_psnr": float(np.mean([r.source_f2f_psnr for r in sel])),
                "encode_fps": float(sum(r.frames for r in sel) / max(1e-9, sum(r.encode_s for r in sel))),
                "decode_fps": float(sum(r.frames for r in sel) / max(1e-9, sum(r.decode_s for r in sel))),
            })
        curves[codec] = sorted(points, key=lambda p: p["kbps"])
    return curves

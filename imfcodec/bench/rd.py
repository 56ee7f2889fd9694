"""Rate-distortion sweeps: every codec and setting on every clip, measured the same way."""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from ..codec import EncodeOptions, StreamDecoder, encode_frames, encode_to_stream, make_header
from ..encoder import with_adaptive
from ..io.reader import probe, read_frames
from ..metrics import clip_quality
from ..models.weights import LoadedModel
from ..quality import ADAPTIVE, LEVELS, AdaptiveDefaults
from ..ratecontrol import parameters_at
from .anchors import ANCHORS, code


IMF_MODES = ("imf", "imf-adaptive")
# imfcodec settings the bench measures by default: the quality levels 0..7, in both modes.
# Rate control's coarser settings below level 0 (x = -4..-1, `--qualities -4,-3,-2,-1`) are
# left out: with one key frame they only coarsen an already tiny token stream, and with the
# rate-distortion refresh rule adaptive refresh at level 0 already refreshes almost never, so
# on the val clips x = -4..-1 came to 0.90..0.97 kbps, between one key frame's q0 (0.96) and
# adaptive q0 (1.00) (benchmarks/val/results.json of 2026-12-01). Leaving them out keeps the
# bench within its 30 minutes (benchmarks/README.md).
DEFAULT_SETTINGS = {
    "imf": tuple(range(len(LEVELS))),
    "imf-adaptive": tuple(range(len(LEVELS))),
}


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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Clip:
    name: str
    frames: list
    fps: Fraction
    source_size: tuple[int, int]


def load_clip(path: Path, size: int, max_frames: int | None) -> Clip:
    info = probe(path)
    frames = []
    for frame in read_frames(path, size):
        frames.append(frame)
        if max_frames and len(frames) >= max_frames:
            break
    return Clip(path.name, frames, info.fps, (info.width, info.height))


def _row(clip: Clip, codec: str, setting: str, param: int, size: int, decoded: list,
         encode_s: float, decode_s: float) -> Row:
    n = len(clip.frames)
    seconds = n / float(clip.fps)
    height, width = clip.frames[0].shape[:2]
    quality = clip_quality(clip.frames, decoded)
    return Row(clip.name, codec, setting, param, n, float(clip.fps), width, height, size,
               size * 8 / 1000 / seconds, size * 8 / (n * width * height), quality["psnr"],
               quality["msssim"], round(encode_s, 4), round(decode_s, 4))


def encode_tokens(clip: Clip, loaded: LoadedModel) -> tuple[dict, float]:
    """Every frame's token, once per clip, and the seconds that took: a token depends only on
    its source frame, so every quality level and mode of the sweep shares them."""
    cache: dict = {}
    t0 = time.perf_counter()
    encode_frames(clip.frames, loaded, make_header(loaded, EncodeOptions(), clip.fps,
                                                         clip.source_size),
                  EncodeOptions(key_placement="start"), lambda record: None, token_cache=cache)
    return cache, time.perf_counter() - t0


def sweep_imf(clip: Clip, loaded: LoadedModel, qualities: list[int], mode: str = "imf",
              adaptive: AdaptiveDefaults = ADAPTIVE,
              tokens: tuple[dict, float] | None = None, refine_steps: int = 0,
              key_placement: str = "centre") -> list[Row]:
    """'imf': one key frame for the clip; 'imf-adaptive': closed-loop refresh (`--adaptive`).

    Each setting runs the real encoder and decoder. The token encoder runs once per clip
    (``tokens``, from encode_tokens) and its time is added to every row's encode time, so a
    row's encode time is what a standalone encode of that setting costs.
    """
    cache, token_s = tokens if tokens is not None else encode_tokens(clip, loaded)
    rows = []
    for q in qualities:
        # Levels 0..7 are --quality; below 0 are the coarser settings --bitrate reaches.
        options = EncodeOptions(quality=q) if q >= 0 else parameters_at(q, EncodeOptions())
        if mode == "imf-adaptive":
            options = with_adaptive(options, clip.fps, adaptive)
        options.refine_steps = refine_steps
        options.key_placement = key_placement
        buf = io.BytesIO()
        t0 = time.perf_counter()
        encode_to_stream(clip.frames, buf, loaded, options, clip.fps,
                         clip.source_size, token_cache=cache)
        encode_s = time.perf_counter() - t0 + token_s
        buf.seek(0)
        t0 = time.perf_counter()
        decoded = list(StreamDecoder(buf, lambda h: loaded).frames())
        decode_s = time.perf_counter() - t0
        rows.append(_row(clip, mode, setting_name(q), q, len(buf.getvalue()), decoded, encode_s,
                         decode_s))
    return rows


def sweep_anchor(clip: Clip, name: str, crfs: list[int] | None = None) -> list[Row]:
    anchor = ANCHORS[name]
    rows = []
    for crf in crfs or anchor.crfs:
        coded = code(anchor, clip.frames, clip.fps, crf)
        rows.append(_row(clip, name, f"crf{crf}", crf, coded.bytes, coded.frames,
                         coded.encode_s, coded.decode_s))
    return rows


def run(clips: list[Path], codecs: list[str], loaded: LoadedModel | None,
        qualities: list[int] | None, max_frames: int | None,
        notify: Callable[[str], None] = lambda message: None, refine_steps: int = 0,
        key_placement: str = "centre") -> list[Row]:
    """Every codec on every clip; anchors missing from this FFmpeg build are skipped (notify)."""
    size = loaded.model.cfg.image_size if loaded else 256
    usable = []
    for name in codecs:
        if name not in IMF_MODES and not ANCHORS[name].available():
            notify(f"{name}: encoder or decoder missing from this FFmpeg build; skipped")
            continue
        usable.append(name)
    rows: list[Row] = []
    for path in clips:
        clip = load_clip(path, size, max_frames)
        if len(clip.frames) < 1:
            notify(f"{path}: no frames; skipped")
            continue
        tokens = None
        for name in usable:
            notify(f"{clip.name}: {name}")
            if name in IMF_MODES:
                tokens = tokens or encode_tokens(clip, loaded)
                rows += sweep_imf(clip, loaded, qualities or list(DEFAULT_SETTINGS[name]), name,
                                  tokens=tokens, refine_steps=refine_steps,
                                  key_placement=key_placement)
            else:
                rows += sweep_anchor(clip, name)
    return rows


def mean_curves(rows: list[Row]) -> dict[str, list[dict]]:
    """Per codec, per setting: kbps, PSNR and MS-SSIM averaged over the clips (settings that
    every clip has), sorted by rate."""
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
                "bpp": float(np.mean([r.bpp for r in sel])),
                "psnr": float(np.mean([r.psnr for r in sel])),
                "msssim": float(np.mean([r.msssim for r in sel])),
                "encode_fps": float(sum(r.frames for r in sel) / max(1e-9, sum(r.encode_s for r in sel))),
                "decode_fps": float(sum(r.frames for r in sel) / max(1e-9, sum(r.decode_s for r in sel))),
            })
        curves[codec] = sorted(points, key=lambda p: p["kbps"])
    return curves

"""Key frames: one picture coded by a conventional intra codec through PyAV.

The encoder keeps the *decoded* picture as its reference, exactly as the decoder will see it.
"""

from __future__ import annotations

import enum
from fractions import Fraction

import av
import numpy as np

from .errors import FormatError, IMFError


class IntraCodec(enum.IntEnum):
    """Codec of a key frame record; the number is what the .imf file stores."""

    HEVC = 1  # libx265, all-intra, fixed QP
    AV1 = 2  # libsvtav1, one key frame, fixed QP


_ENCODERS = {IntraCodec.HEVC: "libx265", IntraCodec.AV1: "libsvtav1"}
_DECODERS = {IntraCodec.HEVC: ("hevc",), IntraCodec.AV1: ("libdav1d", "av1")}
QP_RANGE = {IntraCodec.HEVC: (0, 51), IntraCodec.AV1: (1, 63)}
# x265's preset and tuning for key frames. A key frame is one small picture, so the slowest
# preset costs milliseconds; with SSIM tuning (psy-rd off, SSIM-driven adaptive quantisation)
# it codes val pictures in fewer bytes at equal MS-SSIM and PSNR than "medium"
# (benchmarks/keyframe_codecs.py --hevc-tunings; benchmarks/val/keyframe_tunings.json: -3.6 %
# BD-rate in MS-SSIM over 58 val pictures). Encoder-side only: any
# HEVC decoder reads the result.
HEVC_TUNING = {"preset": "veryslow", "tune": "ssim"}


def _encoder_context(codec: IntraCodec, width: int, height: int, qp: int,
                     hevc_tuning: dict[str, str]) -> av.CodecContext:
    ctx = av.CodecContext.create(_ENCODERS[codec], "w")
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, 25)
    if codec is IntraCodec.HEVC:
        ctx.options = {
            **hevc_tuning,
            "x265-params": f"qp={qp}:keyint=1:info=0:frame-threads=1:pools=none:log-level=-1",
        }
    else:
        ctx.options = {"preset": "6", "qp": str(qp), "svtav1-params": "rc=0:enable-overlays=0"}
    return ctx


def encode(rgb: np.ndarray, codec: IntraCodec, qp: int,
           hevc_tuning: dict[str, str] | None = None) -> bytes:
    """Codes an (H, W, 3) uint8 picture (H and W even) as one intra picture; ``hevc_tuning``
    replaces HEVC_TUNING (x265's preset and tune options) for measurements."""
    codec = IntraCodec(codec)
    lo, hi = QP_RANGE[codec]
    if not lo <= qp <= hi:
        raise IMFError(f"{codec.name} key-frame QP must be in {lo}..{hi}, got {qp}")
    height, width = rgb.shape[:2]
    ctx = _encoder_context(codec, width, height, qp,
                           HEVC_TUNING if hevc_tuning is None else hevc_tuning)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame = frame.reformat(format="yuv420p")
    frame.pts = 0
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    return b"".join(bytes(p) for p in packets)


def decode(data: bytes, codec: IntraCodec) -> np.ndarray:
    """Inverse of encode: returns the (H, W, 3) uint8 picture."""
    try:
        codec = IntraCodec(codec)
    except ValueError:
        raise FormatError(f"unknown key-frame codec {codec}") from None
    last_error: Exception | None = None
    for name in _DECODERS[codec]:
        try:
            ctx = av.CodecContext.create(name, "r")
        except (av.FFmpegError, ValueError) as exc:  # decoder missing from this FFmpeg build
            last_error = exc
            continue
        try:
            frames = list(ctx.decode(av.Packet(data))) + list(ctx.decode(None))
        except av.FFmpegError as exc:
            raise FormatError(f"key frame does not decode as {codec.name}: {exc}") from None
        if len(frames) != 1:
            raise FormatError(f"key frame holds {len(frames)} pictures, expected 1")
        return frames[0].to_ndarray(format="rgb24")
    raise FormatError(f"no {codec.name} decoder in this FFmpeg build ({last_error})")

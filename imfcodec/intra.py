"""Key frames: pictures coded by a conventional codec through PyAV.

A key frame is either intra (decodable alone) or, with HEVC, predicted: a P picture of the
same x265 stream as the key frames before it, whose reference is the previous key frame's
picture (docs/format.md, "Predicted key frames"). ``KeyEncoder`` codes a clip's key frames in
order and ``KeyDecoder`` decodes them in the same order. The encoder keeps the *decoded*
picture as its reference, exactly as the decoder will see it.
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


# The codec byte of a key-frame record that holds a predicted HEVC picture (not a user's choice
# of intra codec: key frames of an HEVC encode are coded 1 or 3).
PREDICTED_HEVC = 3
RECORD_CODECS = {int(IntraCodec.HEVC): "hevc", int(IntraCodec.AV1): "av1", PREDICTED_HEVC: "hevc-p"}

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
            # One stream of key frames: the first picture an IDR, the others P pictures coded
            # as they come (no B pictures, no look-ahead, no scene-cut I pictures), each
            # referring to the picture before it. Alone, the first picture is coded the same
            # as in an all-intra stream (only its sequence header differs).
            "x265-params": f"qp={qp}:keyint=-1:bframes=0:rc-lookahead=0:scenecut=0:info=0:"
                           "frame-threads=1:pools=none:log-level=-1",
        }
    else:
        ctx.options = {"preset": "6", "qp": str(qp), "svtav1-params": "rc=0:enable-overlays=0"}
    return ctx


def _check_qp(codec: IntraCodec, qp: int) -> None:
    lo, hi = QP_RANGE[codec]
    if not lo <= qp <= hi:
        raise IMFError(f"{codec.name} key-frame QP must be in {lo}..{hi}, got {qp}")


def _picture(rgb: np.ndarray, pts: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame = frame.reformat(format="yuv420p")
    frame.pts = pts
    return frame


def encode(rgb: np.ndarray, codec: IntraCodec, qp: int,
           hevc_tuning: dict[str, str] | None = None) -> bytes:
    """Codes an (H, W, 3) uint8 picture (H and W even) as one intra picture; ``hevc_tuning``
    replaces HEVC_TUNING (x265's preset and tune options) for measurements."""
    codec = IntraCodec(codec)
    _check_qp(codec, qp)
    height, width = rgb.shape[:2]
    ctx = _encoder_context(codec, width, height, qp,
                           HEVC_TUNING if hevc_tuning is None else hevc_tuning)
    packets = list(ctx.encode(_picture(rgb, 0))) + list(ctx.encode(None))
    return b"".join(bytes(p) for p in packets)


class KeyEncoder:
    """Codes one encode's key frames, in the order they are sent.

    An intra key frame starts a new stream; a predicted one (HEVC only) continues the stream
    of the key frame before it, as a P picture referring to that key frame's decoded picture.
    The x265 stream codes each picture as it comes, so the bytes of a key frame are known
    before the next is coded. AV1 key frames are always intra.
    """

    def __init__(self, codec: IntraCodec, qp: int, preset: str | None = None) -> None:
        """``preset``: x265's, in place of HEVC_TUNING's (a live stream's key frames at a
        picture's own size; options.Tuning.key_preset)."""
        self.codec = IntraCodec(codec)
        _check_qp(self.codec, qp)
        self.qp = qp
        self.tuning = HEVC_TUNING if preset is None else {**HEVC_TUNING, "preset": preset}
        self._stream: av.CodecContext | None = None  # the open HEVC stream (None: none)
        self._count = 0  # pictures in it

    def code(self, rgb: np.ndarray, predicted: bool) -> tuple[int, bytes]:
        """(the record's codec byte, the coded picture) of the next key frame."""
        if self.codec is not IntraCodec.HEVC:
            return int(self.codec), encode(rgb, self.codec, self.qp)
        if not predicted or self._stream is None:
            height, width = rgb.shape[:2]
            self._stream = _encoder_context(self.codec, width, height, self.qp, self.tuning)
            self._count = 0
        packets = list(self._stream.encode(_picture(rgb, self._count)))
        if len(packets) != 1:  # x265 gives each picture's packet as it is coded
            raise IMFError(f"x265 gave {len(packets)} packets for one key frame")
        self._count += 1
        return (int(IntraCodec.HEVC) if self._count == 1 else PREDICTED_HEVC), bytes(packets[0])


def _decoder(codec: IntraCodec) -> av.CodecContext:
    last_error: Exception | None = None
    for name in _DECODERS[codec]:
        try:
            ctx = av.CodecContext.create(name, "r")
        except (av.FFmpegError, ValueError) as exc:  # decoder missing from this FFmpeg build
            last_error = exc
            continue
        ctx.thread_count = 1  # a picture out for each packet in, no frame-thread delay
        return ctx
    raise FormatError(f"no {codec.name} decoder in this FFmpeg build ({last_error})")


class KeyDecoder:
    """Decodes one stream's key frames in the order they were sent: an intra key frame alone,
    a predicted one from the stream of the HEVC key frames before it."""

    def __init__(self) -> None:
        self._hevc: av.CodecContext | None = None  # the HEVC stream predicted keys continue

    def decode(self, data: bytes, codec: int) -> np.ndarray:
        """The (H, W, 3) uint8 picture of the next key frame (codec: its record's byte)."""
        if codec not in RECORD_CODECS:
            raise FormatError(f"unknown key-frame codec {codec}")
        if codec == PREDICTED_HEVC:
            if self._hevc is None:
                raise FormatError("a predicted key frame without an HEVC key frame before it")
            ctx, name = self._hevc, "HEVC"
        else:
            kind = IntraCodec(codec)
            ctx, name = _decoder(kind), kind.name
            self._hevc = ctx if kind is IntraCodec.HEVC else None
        try:
            frames = list(ctx.decode(av.Packet(data)))
        except av.FFmpegError as exc:
            self._hevc = None
            raise FormatError(f"key frame does not decode as {name}: {exc}") from None
        if len(frames) != 1:
            self._hevc = None
            raise FormatError(f"key frame holds {len(frames)} pictures, expected 1")
        return frames[0].to_ndarray(format="rgb24")


def decode(data: bytes, codec: IntraCodec) -> np.ndarray:
    """Inverse of encode: returns the (H, W, 3) uint8 picture of an intra key frame."""
    if codec == PREDICTED_HEVC:
        raise FormatError("a predicted key frame decodes only after the key frames before it")
    return KeyDecoder().decode(data, codec)

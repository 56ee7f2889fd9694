"""Conventional codecs through PyAV, coding the same RGB frames imfcodec codes.

One key frame for the whole clip (as imfcodec does), constant-quality (CRF) rate control.
The rate is the sum of the raw packets' bytes: no container overhead is counted.

An anchor may also code the picture at a reduced size (each side divided by ``divisor``,
rounded to an even number) and scale the decoded frames back up, as a user who wants few bits
does with SVT-AV1: both scalings are FFmpeg's swscale with the Lanczos filter (down in the
same step as the conversion to 4:2:0, up in the same step as the conversion back to RGB).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

NO_KEYS = "keyint=100000:min-keyint=100000:scenecut=0"


@dataclass(frozen=True)
class Anchor:
    name: str
    encoder: str
    decoders: tuple[str, ...]
    crfs: tuple[int, ...]  # default sweep, high quality to the encoder's floor
    options: dict

    def available(self) -> bool:
        try:
            av.codec.Codec(self.encoder, "w")
        except (av.FFmpegError, ValueError):
            return False
        return any(_has_decoder(d) for d in self.decoders)


def _has_decoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "r")
        return True
    except (av.FFmpegError, ValueError):
        return False


ANCHORS = {
    "x264": Anchor("x264", "libx264", ("h264",), (23, 29, 35, 41, 47, 51),
                   {"preset": "slow", "x264-params": f"{NO_KEYS}:log-level=-1"}),
    "x265": Anchor("x265", "libx265", ("hevc",), (23, 29, 35, 41, 47, 51),
                   {"preset": "slow", "x265-params": f"{NO_KEYS}:info=0:log-level=-1"}),
    "svtav1": Anchor("svtav1", "libsvtav1", ("libdav1d", "av1"), (33, 39, 45, 51, 57, 63),
                     {"preset": "6", "svtav1-params": "keyint=-1:scd=0"}),
}


@dataclass
class Coded:
    frames: list[np.ndarray]
    bytes: int
    encode_s: float
    decode_s: float


# The reduced sizes SVT-AV1 is also measured at (issue 50): each side divided by these.
DIVISORS = (1, 2, 3, 4)
MIN_SIDE = 16  # a reduced size with a shorter side is not measured
SCALER = "LANCZOS"


def reduced_size(width: int, height: int, divisor: int) -> tuple[int, int]:
    """(width, height) with each side divided by ``divisor`` and rounded to the nearest even
    number (4:2:0 needs even sides), at least 2; the size itself for divisor 1."""
    if divisor == 1:
        return width, height
    return tuple(max(2, 2 * round(side / divisor / 2)) for side in (width, height))


def scaled_name(name: str, divisor: int) -> str:
    """A row's codec name: "svtav1" at full size, "svtav1@1/2" at half the side."""
    return name if divisor == 1 else f"{name}@1/{divisor}"


def code(anchor: Anchor, frames: list[np.ndarray], fps: Fraction, crf: int,
         divisor: int = 1) -> Coded:
    """Encodes and decodes ``frames`` (H, W, 3 uint8) at one CRF; returns the decoded frames,
    at the frames' own size. With ``divisor`` > 1 the picture is coded at reduced_size and
    scaled back up with Lanczos."""
    full_height, full_width = frames[0].shape[:2]
    width, height = reduced_size(full_width, full_height, divisor)
    # at full size, swscale's default (bilinear) filter, as before scaled sizes were measured:
    # the chroma subsampling goes through the filter too, so this keeps full-size rows the same
    scaler = SCALER if divisor > 1 else None
    enc = av.CodecContext.create(anchor.encoder, "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base, enc.framerate = Fraction(fps.denominator, fps.numerator), fps
    enc.options = {**anchor.options, "crf": str(crf)}
    t0 = time.perf_counter()
    packets = []
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            width, height, "yuv420p", interpolation=scaler)
        frame.pts = i
        packets += enc.encode(frame)
    packets += enc.encode(None)
    encode_s = time.perf_counter() - t0
    size = sum(p.size for p in packets)
    decoder = next(d for d in anchor.decoders if _has_decoder(d))
    dec = av.CodecContext.create(decoder, "r")
    t0 = time.perf_counter()
    out = []

    def rgb(frame: av.VideoFrame) -> np.ndarray:
        return frame.reformat(full_width, full_height, "rgb24", interpolation=scaler).to_ndarray()

    for packet in packets:
        out += [rgb(f) for f in dec.decode(packet)]
    out += [rgb(f) for f in dec.decode(None)]
    decode_s = time.perf_counter() - t0
    if len(out) != len(frames):
        raise RuntimeError(f"{scaled_name(anchor.name, divisor)} crf {crf}: {len(out)} frames decoded of {len(frames)}")
    return Coded(out, size, encode_s, decode_s)

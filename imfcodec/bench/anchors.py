"""Conventional codecs through PyAV, coding the same 256x256 RGB frames imfcodec codes.

One key frame for the whole clip (as imfcodec does), constant-quality (CRF) rate control.
The rate is the sum of the raw packets' bytes: no container overhead is counted.
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


def code(anchor: Anchor, frames: list[np.ndarray], fps: Fraction, crf: int) -> Coded:
    """Encodes and decodes ``frames`` (H, W, 3 uint8) at one CRF; returns the decoded frames."""
    height, width = frames[0].shape[:2]
    enc = av.CodecContext.create(anchor.encoder, "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base, enc.framerate = Fraction(fps.denominator, fps.numerator), fps
    enc.options = {**anchor.options, "crf": str(crf)}
    t0 = time.perf_counter()
    packets = []
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += enc.encode(frame)
    packets += enc.encode(None)
    encode_s = time.perf_counter() - t0
    size = sum(p.size for p in packets)
    decoder = next(d for d in anchor.decoders if _has_decoder(d))
    dec = av.CodecContext.create(decoder, "r")
    t0 = time.perf_counter()
    out = []
    for packet in packets:
        out += [f.to_ndarray(format="rgb24") for f in dec.decode(packet)]
    out += [f.to_ndarray(format="rgb24") for f in dec.decode(None)]
    decode_s = time.perf_counter() - t0
    if len(out) != len(frames):
        raise RuntimeError(f"{anchor.name} crf {crf}: {len(out)} frames decoded of {len(frames)}")
    return Coded(out, size, encode_s, decode_s)

"""The video records' payloads and their (de)serialisation: HEADER (Header), KEYFRAME
(KeyFrame), TOKENS (TokenChunk) and END (End), with the record type numbers (RecordType) and
the enums and limits their fields use. The sound's records are in audio.py."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import FormatError
from .varint import Cursor, write_varint

MAX_REFERENCES = 4  # key frames a decoder holds: a TOKENS record's reference index is below it
MAX_SIDE = 16384
MAX_FRAMES = 1 << 31
MAX_TOKEN_DIM = 1024
MAX_NAME = 255
# (version 10.0) a type byte from FRAME_TYPE up starts a FRAME record (one predicted token
# frame) of (byte - FRAME_TYPE) payload bytes and a CRC-16 (docs/format.md, "FRAME")
FRAME_TYPE = 0x80
MAX_FRAME_PAYLOAD = 127  # a FRAME record's payload length is the low 7 bits of its type byte
# (version 11.0) bit 6 of a FRAME record's type byte: the record spans two frames, the first
# rebuilt from the midpoint of its neighbours' tokens (quantize.midpoint); the payload's
# length is then the low 6 bits, and a one-frame record's too (at most 63 bytes)
PAIR_BIT = 0x40
MAX_PAIR_PAYLOAD = 63


def frame_type_byte(record: "TokenChunk") -> int:
    """A FRAME record's type byte: FRAME_TYPE, PAIR_BIT when it spans two frames, the payload's
    length."""
    return FRAME_TYPE + (PAIR_BIT if record.frame_count == 2 else 0) + len(record.data)


def frame_head(type_byte: int, pairs: bool) -> tuple[int, int]:
    """A FRAME record's type byte (FRAME_TYPE or more) -> (payload length, frames it spans):
    in 10.0 the low 7 bits and one frame; where ``pairs`` (from 11.0) the low 6 bits, two
    frames where PAIR_BIT is set."""
    if not pairs:
        return type_byte - FRAME_TYPE, 1
    return type_byte & (PAIR_BIT - 1), 2 if type_byte & PAIR_BIT else 1


class RecordType(enum.IntEnum):
    HEADER = 1
    KEYFRAME = 2
    TOKENS = 3
    END = 4
    AUDIO_HEADER = 5
    AUDIO = 6


class KeyReason(enum.IntEnum):
    """Why the encoder placed a key frame (for `imfcodec info`)."""

    START = 0
    INTERVAL = 1
    QUALITY = 2  # the closed-loop decision: PSNR threshold or rate-distortion test
    SCENE_CUT = 3
    REQUEST = 4  # (version 9.0) a live receiver asked for one (it joined, or lost packets)


class Fit(enum.IntEnum):
    CROP = 0
    PAD = 1


@dataclass
class Header:
    model_name: str
    model_digest: bytes  # 16 bytes
    token_dim: int
    width: int  # the coded picture's size (before 7.0: the model's square)
    height: int
    source_width: int
    source_height: int
    fps: Fraction
    frame_count: int  # (version 9.0) 0: open, a live stream's (its END record counts them)
    quality: int
    token_step: float  # stored as IEEE float32
    intra_codec: int
    intra_qp: int
    fit: Fit = Fit.CROP
    chunk_frames: int = 25
    keyframe_interval: int = 0  # 0: none beyond the first
    # (version 7.0) the square (x, y, side) of the picture the motion model sees at its own
    # size; None: the picture is the model's square (every file before 7.0)
    region: tuple[int, int, int] | None = None
    # (version 8.0) every token carries the picture's global motion after the model's numbers:
    # 8 more, the displacement of the picture's corners in pixels (motion/camera.py)
    global_motion: bool = False

    def __post_init__(self) -> None:
        # The file stores float32: hold exactly the value a reader will get back.
        self.token_step = struct.unpack("<f", struct.pack("<f", self.token_step))[0]

    def to_bytes(self) -> bytes:
        name = self.model_name.encode("utf-8")
        if len(name) > MAX_NAME or len(self.model_digest) != 16:
            raise ValueError("model name too long or digest not 16 bytes")
        if self.global_motion and self.region is None:
            raise ValueError("a global motion needs a motion region")
        parts = [
            write_varint(len(name)),
            name,
            self.model_digest,
            write_varint(self.token_dim),
            write_varint(self.width),
            write_varint(self.height),
            write_varint(self.source_width),
            write_varint(self.source_height),
            write_varint(self.fps.numerator),
            write_varint(self.fps.denominator),
            write_varint(self.frame_count),
            bytes([self.quality]),
            struct.pack("<f", self.token_step),
            bytes([self.intra_codec, self.intra_qp, int(self.fit)]),
            write_varint(self.chunk_frames),
            write_varint(self.keyframe_interval),
            *(write_varint(v) for v in (self.region or ())),
            bytes([1]) if self.global_motion else b"",
        ]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Header":
        c = Cursor(data, "header")
        name_len = c.varint()
        if name_len > MAX_NAME:
            raise FormatError(f"header: model name of {name_len} bytes")
        try:
            name = c.take(name_len).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("header: model name is not UTF-8") from None
        digest = c.take(16)
        token_dim, width, height, sw, sh = (c.varint() for _ in range(5))
        fps_num, fps_den, frames = c.varint(), c.varint(), c.varint()
        quality = c.u8()
        (step,) = struct.unpack("<f", c.take(4))
        intra_codec, intra_qp, fit = c.u8(), c.u8(), c.u8()
        chunk, interval = c.varint(), c.varint()
        region = None
        if c.pos != len(data):  # version 7.0: the motion region
            region = (c.varint(), c.varint(), c.varint())
            x, y, side = region
            if not (0 < side and x + side <= width and y + side <= height):
                raise FormatError(f"header: motion region {side}x{side} at ({x}, {y}) outside the "
                                  f"{width}x{height} picture")
        global_motion = False
        if region is not None and c.pos != len(data):  # version 8.0: the global motion
            flag = c.u8()
            if flag != 1:
                raise FormatError(f"header: unknown global motion {flag}")
            global_motion = True
        if c.pos != len(data):
            raise FormatError("header: unexpected bytes after the last field")
        if not 0 <= token_dim <= MAX_TOKEN_DIM:  # 0: a model that sends no motion (static)
            raise FormatError(f"header: token size {token_dim} out of range")
        for side in (width, height, sw, sh):
            if not 0 < side <= MAX_SIDE:
                raise FormatError(f"header: frame side {side} out of range 1..{MAX_SIDE}")
        if fps_num == 0 or fps_den == 0 or fps_num > 1 << 32 or fps_den > 1 << 32:
            raise FormatError(f"header: invalid frame rate {fps_num}/{fps_den}")
        if not 0 <= frames <= MAX_FRAMES:
            raise FormatError(f"header: frame count {frames} out of range")
        if not (step > 0 and step < 1e6):  # also rejects NaN
            raise FormatError(f"header: invalid token step {step}")
        if fit not in (0, 1):
            raise FormatError(f"header: unknown fit mode {fit}")
        if not 0 < chunk <= 65536:
            raise FormatError(f"header: chunk size {chunk} out of range")
        return cls(name, digest, token_dim, width, height, sw, sh, Fraction(fps_num, fps_den),
                   frames, quality, step, intra_codec, intra_qp, Fit(fit), chunk, interval, region,
                   global_motion)


@dataclass
class KeyFrame:
    frame_index: int
    codec: int
    qp: int
    reason: KeyReason
    data: bytes = field(repr=False)

    def to_bytes(self) -> bytes:
        head = write_varint(self.frame_index) + bytes([self.codec, self.qp, int(self.reason)])
        return head + self.data

    @classmethod
    def from_bytes(cls, data: bytes) -> "KeyFrame":
        c = Cursor(data, "key frame")
        index, codec, qp, reason = c.varint(), c.u8(), c.u8(), c.u8()
        if reason not in KeyReason._value2member_map_:
            raise FormatError(f"key frame: unknown reason {reason}")
        payload = c.rest()
        if not payload:
            raise FormatError("key frame: empty picture")
        return cls(index, codec, qp, KeyReason(reason), payload)


@dataclass
class TokenChunk:
    first_frame: int | None  # None: a FRAME record's, until its order is checked
    frame_count: int
    absolute_first: bool  # the first frame is coded without prediction (see docs/format.md)
    data: bytes = field(repr=False)
    # the key frame its frames are rebuilt from: 0 the last one received, 1 the one before, ...
    # (version 5.0; below MAX_REFERENCES)
    reference: int = 0
    # the key frame blended into its frames (counted as ``reference``; None: none), each
    # frame's share of it coded first in ``data`` (version 6.0)
    partner: int | None = None
    # (version 9.0) the residuals' tables follow the run's tokens before them, none sent
    # (entropy/adaptive.py): what lets a live stream send each frame alone
    adaptive: bool = False
    # (version 10.0) a FRAME record: one predicted frame, adaptive tables, byte-coded
    # (entropy/bytecoder.py), in a framing of its own (container.py) without a frame index:
    # its frame is the next not yet held (order.FrameOrder fills ``first_frame`` in); (11.0)
    # or two frames (``frame_count`` 2), the first rebuilt between its neighbours' tokens
    compact: bool = False
    crc: int | None = field(default=None, repr=False)  # a FRAME record's CRC-16, as read

    def to_bytes(self) -> bytes:
        if self.compact:
            return self.data
        head = write_varint(self.first_frame) + write_varint(self.frame_count)
        blended = self.partner is not None
        flags = int(self.absolute_first) | (2 if self.reference else 0) | (4 if blended else 0) \
            | (8 if self.adaptive else 0)
        extra = (bytes([self.reference]) if self.reference else b"") + \
            (bytes([self.partner]) if blended else b"")
        return head + bytes([flags]) + extra + self.data

    @classmethod
    def from_bytes(cls, data: bytes) -> "TokenChunk":
        c = Cursor(data, "token chunk")
        first, count, flags = c.varint(), c.varint(), c.u8()
        if flags > 15:
            raise FormatError(f"token chunk: unknown flags {flags}")
        if count == 0 or count > 65536:
            raise FormatError(f"token chunk: {count} frames")
        reference = c.u8() if flags & 2 else 0
        if flags & 2 and not 0 < reference < MAX_REFERENCES:
            raise FormatError(f"token chunk: reference {reference} out of range 1..{MAX_REFERENCES - 1}")
        partner = c.u8() if flags & 4 else None
        if partner is not None and not (partner < MAX_REFERENCES and partner != reference):
            raise FormatError(f"token chunk: blended key frame {partner} out of range 0.."
                              f"{MAX_REFERENCES - 1} or its own reference")
        if flags & 8 and partner is not None:
            raise FormatError("token chunk: adaptive tables in a blended chunk")
        return cls(first, count, bool(flags & 1), c.rest(), reference, partner, bool(flags & 8))

    @classmethod
    def frame(cls, data: bytes, first_frame: int | None = None, crc: int | None = None,
              frames: int = 1) -> "TokenChunk":
        """A FRAME record (version 10.0) of payload ``data``, spanning ``frames`` frames (2:
        version 11.0, the first rebuilt between its neighbours). A reader knows its first
        frame's index, and so can check its ``crc``, only where it checks the record's order."""
        most = MAX_PAIR_PAYLOAD if frames == 2 else MAX_FRAME_PAYLOAD
        if frames not in (1, 2) or len(data) > most:
            raise ValueError(f"a FRAME record spans 1 or 2 frames, its payload at most {most} bytes")
        return cls(first_frame, frames, False, data, adaptive=True, compact=True, crc=crc)


@dataclass
class End:
    frame_count: int

    def to_bytes(self) -> bytes:
        return write_varint(self.frame_count)

    @classmethod
    def from_bytes(cls, data: bytes) -> "End":
        c = Cursor(data, "end")
        count = c.varint()
        if c.pos != len(data):
            raise FormatError("end record: unexpected bytes")
        return cls(count)

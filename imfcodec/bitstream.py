"""The .imf container: pure bytes, no torch. docs/format.md describes it byte by byte.

File = MAGIC (4 bytes) | version major (u8) | version minor (u8) | records...
Record = type (u8) | payload length (varint) | payload | CRC-32 of type, length and payload
(u32 little-endian). The first record is HEADER, the last END; KEYFRAME and TOKENS records
come between them in frame order, except that from version 2.0 a key frame may be sent ahead
of the frames before it that are rebuilt from it (its "leading frames", docs/format.md).
From version 4.0 a file may carry sound: one AUDIO_HEADER right after the HEADER, and AUDIO
records (Opus packets) interleaved with the video records by time.
"""

from __future__ import annotations

import enum
import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from fractions import Fraction
from typing import BinaryIO, Iterator

from .errors import FormatError

MAGIC = b"\x89IMF"
VERSION = (6, 0)  # the newest this module writes and reads
# Files without leading frames are written as 1.0, byte for byte what 1.0 writers made, so
# that readers of 1.x still read them; 2.0 marks a file that has them, 3.0 one with predicted
# key frames (key-frame codec 3), 4.0 one with sound (audio records), 5.0 one whose token
# frames are rebuilt from an earlier key frame than their run's (TOKENS reference index), 6.0
# one whose token frames blend a second key frame in (TOKENS partner index and shares).
PLAIN_VERSION = (1, 0)
LEADING_VERSION = (2, 0)
PREDICTED_VERSION = (3, 0)
AUDIO_VERSION = (4, 0)
REFERENCES_VERSION = (5, 0)
BLEND_VERSION = (6, 0)
MAX_REFERENCES = 4  # key frames a decoder holds: a TOKENS record's reference index is below it
PREDICTED_KEY_CODEC = 3  # intra.PREDICTED_HEVC: an HEVC P picture from the key frame before
READ_MAJORS = (1, 2, 3, 4, 5, 6)
MAX_VARINT_BYTES = 10
MAX_SIDE = 16384
MAX_FRAMES = 1 << 31
MAX_TOKEN_DIM = 1024
MAX_NAME = 255
AUDIO_RATE = 48000  # the audio timeline's samples per second (Opus always decodes at 48 kHz)
OPUS = 1  # AUDIO_HEADER codec
MAX_AUDIO_CHANNELS = 2
MAX_PRE_SKIP = 65535
MAX_AUDIO_PACKETS = 4096  # in one AUDIO record
MAX_OPUS_PACKET = 1275 * 48 + 8  # RFC 6716's longest packet, with its framing bytes


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


class Fit(enum.IntEnum):
    CROP = 0
    PAD = 1


# --- varints -------------------------------------------------------------------------------


def write_varint(value: int) -> bytes:
    """Unsigned LEB128."""
    if value < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class Cursor:
    """Reads fields from one record's payload; every overrun is a FormatError."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError(f"{self.what} record is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def varint(self) -> int:
        return read_varint(self.take, self.what)

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)


def read_varint(take, what: str) -> int:
    value = 0
    for i in range(MAX_VARINT_BYTES):
        byte = take(1)
        if not byte:
            raise FormatError(f"file ends inside a {what} length")
        value |= (byte[0] & 0x7F) << (7 * i)
        if not byte[0] & 0x80:
            return value
    raise FormatError(f"{what}: varint longer than {MAX_VARINT_BYTES} bytes")


# --- records -------------------------------------------------------------------------------


@dataclass
class Header:
    model_name: str
    model_digest: bytes  # 16 bytes
    token_dim: int
    width: int  # the model's frame size
    height: int
    source_width: int
    source_height: int
    fps: Fraction
    frame_count: int
    quality: int
    token_step: float  # stored as IEEE float32
    intra_codec: int
    intra_qp: int
    fit: Fit = Fit.CROP
    chunk_frames: int = 25
    keyframe_interval: int = 0  # 0: none beyond the first

    def __post_init__(self) -> None:
        # The file stores float32: hold exactly the value a reader will get back.
        self.token_step = struct.unpack("<f", struct.pack("<f", self.token_step))[0]

    def to_bytes(self) -> bytes:
        name = self.model_name.encode("utf-8")
        if len(name) > MAX_NAME or len(self.model_digest) != 16:
            raise ValueError("model name too long or digest not 16 bytes")
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
        if c.pos != len(data):
            raise FormatError("header: unexpected bytes after the last field")
        if not 0 <= token_dim <= MAX_TOKEN_DIM:  # 0: a model that sends no motion (static)
            raise FormatError(f"header: token size {token_dim} out of range")
        for side in (width, height, sw, sh):
            if not 0 < side <= MAX_SIDE:
                raise FormatError(f"header: frame side {side} out of range 1..{MAX_SIDE}")
        if fps_num == 0 or fps_den == 0 or fps_num > 1 << 32 or fps_den > 1 << 32:
            raise FormatError(f"header: invalid frame rate {fps_num}/{fps_den}")
        if not 0 < frames <= MAX_FRAMES:
            raise FormatError(f"header: frame count {frames} out of range")
        if not (step > 0 and step < 1e6):  # also rejects NaN
            raise FormatError(f"header: invalid token step {step}")
        if fit not in (0, 1):
            raise FormatError(f"header: unknown fit mode {fit}")
        if not 0 < chunk <= 65536:
            raise FormatError(f"header: chunk size {chunk} out of range")
        return cls(name, digest, token_dim, width, height, sw, sh, Fraction(fps_num, fps_den),
                   frames, quality, step, intra_codec, intra_qp, Fit(fit), chunk, interval)


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
    first_frame: int
    frame_count: int
    absolute_first: bool  # the first frame is coded without prediction (see docs/format.md)
    data: bytes = field(repr=False)
    # the key frame its frames are rebuilt from: 0 the last one received, 1 the one before, ...
    # (version 5.0; below MAX_REFERENCES)
    reference: int = 0
    # the key frame blended into its frames (counted as ``reference``; None: none), each
    # frame's share of it coded first in ``data`` (version 6.0)
    partner: int | None = None

    def to_bytes(self) -> bytes:
        head = write_varint(self.first_frame) + write_varint(self.frame_count)
        blended = self.partner is not None
        flags = int(self.absolute_first) | (2 if self.reference else 0) | (4 if blended else 0)
        extra = (bytes([self.reference]) if self.reference else b"") + \
            (bytes([self.partner]) if blended else b"")
        return head + bytes([flags]) + extra + self.data

    @classmethod
    def from_bytes(cls, data: bytes) -> "TokenChunk":
        c = Cursor(data, "token chunk")
        first, count, flags = c.varint(), c.varint(), c.u8()
        if flags > 7:
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
        return cls(first, count, bool(flags & 1), c.rest(), reference, partner)


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


def zigzag(value: int) -> int:
    """A signed integer as an unsigned one: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ..."""
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


# Opus frame sizes at 48 kHz by the TOC byte's configuration (RFC 6716, section 3.1): SILK
# 10/20/40/60 ms (configurations 0..11), hybrid 10/20 ms (12..15), CELT 2.5/5/10/20 ms (16..31).
_OPUS_FRAME = [480, 960, 1920, 2880] * 3 + [480, 960] * 2 + [120, 240, 480, 960] * 4
OPUS_MAX_PACKET_SAMPLES = 5760  # 120 ms, the longest an Opus packet may last


def opus_samples(packet: bytes) -> int:
    """The samples (at 48 kHz) one Opus packet decodes to, from its TOC byte (and, for code 3,
    its frame count byte); FormatError for a packet that cannot be Opus."""
    if not packet:
        raise FormatError("audio: empty Opus packet")
    toc = packet[0]
    code = toc & 3
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        if len(packet) < 2:
            raise FormatError("audio: Opus packet ends before its frame count")
        frames = packet[1] & 0x3F
    samples = frames * _OPUS_FRAME[toc >> 3]
    if not 0 < samples <= OPUS_MAX_PACKET_SAMPLES:
        raise FormatError(f"audio: Opus packet of {samples} samples")
    return samples


@dataclass
class AudioHeader:
    """The sound's description (version 4.0): once, right after the HEADER."""

    codec: int  # OPUS
    channels: int  # 1 or 2
    source_rate: int  # the input's sample rate (informative: Opus decodes at 48 kHz)
    pre_skip: int  # decoded samples to drop at the start (the encoder's look-ahead)
    start: int  # the first sample's time minus the first frame's, in 1/48000 s (signed)
    bitrate: int  # the target bits per second the encoder was given (informative)

    def to_bytes(self) -> bytes:
        return (bytes([self.codec, self.channels]) + write_varint(self.source_rate)
                + write_varint(self.pre_skip) + write_varint(zigzag(self.start))
                + write_varint(self.bitrate))

    @classmethod
    def from_bytes(cls, data: bytes) -> "AudioHeader":
        c = Cursor(data, "audio header")
        codec, channels = c.u8(), c.u8()
        source_rate, pre_skip, start, bitrate = c.varint(), c.varint(), c.varint(), c.varint()
        if c.pos != len(data):
            raise FormatError("audio header: unexpected bytes after the last field")
        if codec != OPUS:
            raise FormatError(f"audio header: unknown audio codec {codec}")
        if not 1 <= channels <= MAX_AUDIO_CHANNELS:
            raise FormatError(f"audio header: {channels} channels")
        if pre_skip > MAX_PRE_SKIP:
            raise FormatError(f"audio header: pre-skip of {pre_skip} samples")
        if not 0 < source_rate <= 1 << 20:
            raise FormatError(f"audio header: sample rate {source_rate}")
        start = unzigzag(start)
        if abs(start) > AUDIO_RATE * 86400:
            raise FormatError(f"audio header: start offset of {start} samples")
        return cls(codec, channels, source_rate, pre_skip, start, bitrate)


@dataclass
class AudioChunk:
    """Consecutive Opus packets of the sound (version 4.0). ``end`` is the granule position
    after the last one: the samples decoded from the first packet of the file through this
    record's last, pre-skip included, less what the encoder padded at the very end."""

    end: int
    packets: list[bytes] = field(repr=False)

    def to_bytes(self) -> bytes:
        parts = [write_varint(self.end), write_varint(len(self.packets))]
        for packet in self.packets:
            parts += [write_varint(len(packet)), packet]
        return b"".join(parts)

    @cached_property
    def samples(self) -> int:
        """What its packets decode to, before any end trimming (from_bytes checks every
        packet's TOC by computing it; the reader's order check then reuses it)."""
        return sum(opus_samples(p) for p in self.packets)

    @classmethod
    def from_bytes(cls, data: bytes) -> "AudioChunk":
        c = Cursor(data, "audio")
        end, count = c.varint(), c.varint()
        if not 0 < count <= MAX_AUDIO_PACKETS:
            raise FormatError(f"audio: {count} packets in one record")
        packets = []
        for _ in range(count):
            size = c.varint()
            if not 0 < size <= MAX_OPUS_PACKET:
                raise FormatError(f"audio: packet of {size} bytes")
            packets.append(c.take(size))
        if c.pos != len(data):
            raise FormatError("audio: unexpected bytes after the last packet")
        chunk = cls(end, packets)
        chunk.samples  # every packet's TOC is checked here
        return chunk


_RECORD_CLASSES = {
    RecordType.HEADER: Header,
    RecordType.KEYFRAME: KeyFrame,
    RecordType.TOKENS: TokenChunk,
    RecordType.END: End,
    RecordType.AUDIO_HEADER: AudioHeader,
    RecordType.AUDIO: AudioChunk,
}
_RECORD_TYPES = {cls: kind for kind, cls in _RECORD_CLASSES.items()}


def file_start(version: tuple[int, int] = PLAIN_VERSION) -> bytes:
    return MAGIC + bytes(version)


def version_for(records) -> tuple[int, int]:
    """The lowest format version that holds these records: 4.0 with sound, 3.0 if a key frame
    is predicted, 2.0 if a key frame is sent ahead of frames before it, else 1.0."""
    records = list(records)
    if any(isinstance(r, TokenChunk) and r.partner is not None for r in records):
        return BLEND_VERSION
    if any(isinstance(r, TokenChunk) and r.reference for r in records):
        return REFERENCES_VERSION
    if any(isinstance(r, (AudioHeader, AudioChunk)) for r in records):
        return AUDIO_VERSION
    covered, version = 0, PLAIN_VERSION
    for record in records:
        if isinstance(record, KeyFrame):
            if record.codec == PREDICTED_KEY_CODEC:
                return PREDICTED_VERSION
            if record.frame_index > covered:
                version = LEADING_VERSION
            covered = record.frame_index + 1
        elif isinstance(record, TokenChunk):
            covered = record.first_frame + record.frame_count
    return version


def interleave(video: list, fps: Fraction, audio: list[tuple[float, "AudioChunk"]]) -> list:
    """Video records (in their order) and AUDIO records (each with the time of its first
    sample, in seconds from the first frame, in time order) as one list ordered by time:
    each AUDIO record goes before the first video record needed later than it starts."""
    out, pending = [], list(audio)
    pending.reverse()
    covered = 0
    for record in video:
        if isinstance(record, KeyFrame):
            start = covered
            if record.frame_index == covered:
                covered += 1
        elif isinstance(record, TokenChunk):
            start = record.first_frame
            covered = record.first_frame + record.frame_count
        else:
            start = covered
        while pending and pending[-1][0] <= start / fps:
            out.append(pending.pop()[1])
        out.append(record)
    out.extend(chunk for _, chunk in reversed(pending))
    return out


def record_bytes(record) -> bytes:
    """One framed record: type, varint length, payload, CRC-32."""
    kind = _RECORD_TYPES[type(record)]
    payload = record.to_bytes()
    framed = bytes([kind]) + write_varint(len(payload)) + payload
    return framed + struct.pack("<I", zlib.crc32(framed))


class Writer:
    """Writes a .imf stream; returns the number of bytes each call wrote."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes_written = 0

    def _write(self, data: bytes) -> int:
        self.stream.write(data)
        self.bytes_written += len(data)
        return len(data)

    def start(self, version: tuple[int, int] = PLAIN_VERSION) -> int:
        return self._write(file_start(version))

    def write(self, record) -> int:
        return self._write(record_bytes(record))


def pack(header: Header, records: list) -> bytes:
    """A whole .imf file: the start (in the lowest version that holds ``records``), the
    header, the records in order, and the end record."""
    buffer = io.BytesIO()
    writer = Writer(buffer)
    writer.start(version_for(records))
    writer.write(header)
    for record in records:
        writer.write(record)
    writer.write(End(header.frame_count))
    return buffer.getvalue()


def _stream_size(stream: BinaryIO) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        if isinstance(stream, io.BytesIO):
            return len(stream.getbuffer())
        return None


def file_version(stream: BinaryIO) -> tuple[int, int]:
    """The (major, minor) version of a stream, read from its first 6 bytes."""
    start = stream.read(6)
    if len(start) < 4 or start[:4] != MAGIC:
        raise FormatError("not an .imf file (bad magic bytes)")
    if len(start) < 6:
        raise FormatError("file ends inside the version")
    return start[4], start[5]


def _read_framed(stream: BinaryIO, position: int, size: int | None) -> tuple[int, RecordType, bytes]:
    """One framed record at byte ``position``: (its size in bytes, type, payload), with its
    length checked against the bytes left and its CRC checked."""
    kind_byte = stream.read(1)
    if not kind_byte:
        raise FormatError("file is truncated (no end record)")
    length_bytes = bytearray()

    def take(n: int) -> bytes:
        b = stream.read(n)
        length_bytes.extend(b)
        return b

    length = read_varint(take, "record")
    framed_len = 1 + len(length_bytes) + length + 4
    if size is not None and position + framed_len > size:
        raise FormatError("file is truncated (a record runs past the end)")
    if length > 1 << 30:
        raise FormatError(f"record of {length} bytes is too large")
    payload = stream.read(length)
    crc = stream.read(4)
    if len(payload) != length or len(crc) != 4:
        raise FormatError("file is truncated (a record runs past the end)")
    if zlib.crc32(kind_byte + bytes(length_bytes) + payload) != struct.unpack("<I", crc)[0]:
        raise FormatError(f"checksum mismatch in the record at byte {position}")
    try:
        kind = RecordType(kind_byte[0])
    except ValueError:
        raise FormatError(f"unknown record type {kind_byte[0]} at byte {position + framed_len}") from None
    return framed_len, kind, payload


class _FrameOrder:
    """Checks that the records after the header cover every frame once, in display order,
    except a key frame sent ahead of its leading frames (version 2), whose frame is counted
    when the token chunks reach it."""

    def __init__(self, header: Header, version: tuple[int, int]) -> None:
        self.header, self.major, self.version = header, version[0], version
        self.seen = 0  # the frames covered so far, in display order
        self.ahead: int | None = None  # a key frame read whose leading frames are still to come
        self.keys = 0  # key frames read so far

    def check(self, kind: RecordType, record, stream: BinaryIO) -> None:
        if kind is RecordType.HEADER:
            raise FormatError("a second header record")
        if kind is RecordType.KEYFRAME:
            if record.codec == PREDICTED_KEY_CODEC and self.version < PREDICTED_VERSION:
                raise FormatError(f"a predicted key frame in a version {self.major}."
                                  f"{self.version[1]} file (they came in 3.0)")
            self._key_frame(record.frame_index)
            self.keys += 1
        elif kind is RecordType.TOKENS:
            if record.reference and self.version < REFERENCES_VERSION:
                raise FormatError(f"a token chunk with a reference index in a version "
                                  f"{self.major}.{self.version[1]} file (they came in 5.0)")
            if record.partner is not None and self.version < BLEND_VERSION:
                raise FormatError(f"a blended token chunk in a version {self.major}."
                                  f"{self.version[1]} file (they came in 6.0)")
            furthest = max(record.reference, record.partner or 0)
            if furthest >= self.keys:
                raise FormatError(f"token chunk refers to key frame {furthest} back, "
                                  f"{self.keys} received")
            self._tokens(record)
        if self.seen > self.header.frame_count:
            raise FormatError(f"more frames than the header's {self.header.frame_count}")
        if kind is RecordType.END:
            self._end(record, stream)

    def _key_frame(self, index: int) -> None:
        if self.ahead is not None:
            raise FormatError(f"key frame for frame {index} before frames {self.seen}.."
                              f"{self.ahead - 1}, ahead of the key frame at {self.ahead}")
        if index < self.seen or (index > self.seen and self.major < 2):
            raise FormatError(f"key frame for frame {index}, expected {self.seen}")
        if index == self.seen:
            self.seen += 1
        else:
            self.ahead = index
        if index >= self.header.frame_count:
            raise FormatError(f"key frame for frame {index}, header counts {self.header.frame_count}")

    def _tokens(self, record: TokenChunk) -> None:
        if record.first_frame != self.seen or (self.seen == 0 and self.ahead is None):
            raise FormatError(f"token chunk for frame {record.first_frame}, expected {self.seen}")
        if record.frame_count > self.header.chunk_frames:
            raise FormatError(f"token chunk of {record.frame_count} frames, header allows "
                              f"{self.header.chunk_frames}")
        self.seen += record.frame_count
        if self.ahead is not None:
            if self.seen > self.ahead:
                raise FormatError(f"token chunk for frames {record.first_frame}.."
                                  f"{self.seen - 1} runs over the key frame at {self.ahead}")
            if self.seen == self.ahead:
                self.seen, self.ahead = self.ahead + 1, None

    def _end(self, record: End, stream: BinaryIO) -> None:
        if self.ahead is not None:
            raise FormatError(f"file ends before the frames ahead of the key frame at {self.ahead}")
        count = self.header.frame_count
        if record.frame_count != count or self.seen != count:
            raise FormatError(f"end record counts {record.frame_count} frames, header {count}, "
                              f"records {self.seen}")
        if stream.read(1):
            raise FormatError("unexpected data after the end record")


class _AudioOrder:
    """Checks the sound's records (version 4.0): one AUDIO_HEADER, first after the HEADER;
    AUDIO records after it whose granule positions grow by at most what their packets decode
    to, and, once a record has trimmed its end, no more AUDIO records."""

    def __init__(self, version: tuple[int, int]) -> None:
        self.version = version
        self.header: AudioHeader | None = None
        self.decoded = 0  # samples the packets so far decode to
        self.end = 0  # the last granule position
        self.trimmed = False

    def check(self, kind: RecordType, record, first: bool) -> None:
        if self.version < AUDIO_VERSION:
            raise FormatError(f"an audio record in a version {self.version[0]}.{self.version[1]} "
                              f"file (they came in 4.0)")
        if kind is RecordType.AUDIO_HEADER:
            if self.header is not None:
                raise FormatError("a second audio header")
            if not first:
                raise FormatError("the audio header is not the record after the header")
            self.header = record
            return
        if self.header is None:
            raise FormatError("an audio record without an audio header before it")
        if self.trimmed:
            raise FormatError("an audio record after the one that trimmed the sound's end")
        self.decoded += record.samples
        if not self.end < record.end <= self.decoded:
            raise FormatError(f"audio: granule position {record.end} outside "
                              f"{self.end + 1}..{self.decoded}")
        self.end = record.end
        self.trimmed = record.end < self.decoded


def read_records(stream: BinaryIO) -> Iterator[tuple[int, object]]:
    """Yields (record size in bytes, parsed record), checking framing, CRCs and frame order
    as it goes (_FrameOrder).

    The first record is always a Header; iteration stops after End. A payload length is
    checked against the bytes left before anything is allocated for it.
    """
    size = _stream_size(stream)
    major, minor = file_version(stream)
    if major not in READ_MAJORS:
        names = [f"{m}.x" for m in READ_MAJORS]
        readable = ", ".join(names[:-1]) + " and " + names[-1]
        raise FormatError(
            f"format version {major}.{minor} is not supported (this imfcodec reads {readable})"
        )
    position, order, sound, count = 6, None, _AudioOrder((major, minor)), 0
    while True:
        framed_len, kind, payload = _read_framed(stream, position, size)
        position += framed_len
        record = _RECORD_CLASSES[kind].from_bytes(payload)
        if order is None:
            if kind is not RecordType.HEADER:
                raise FormatError("the first record is not a header")
            order = _FrameOrder(record, (major, minor))
        elif kind in (RecordType.AUDIO_HEADER, RecordType.AUDIO):
            sound.check(kind, record, first=count == 1)
        else:
            order.check(kind, record, stream)
        count += 1
        yield framed_len, record
        if kind is RecordType.END:
            return

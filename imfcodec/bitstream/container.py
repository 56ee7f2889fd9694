"""The container's framing: the file start (MAGIC and version bytes; from 9.0 a stream id),
records framed as type, varint length, payload and CRC-32 (record_bytes, Writer, pack; from
10.0 also FRAME records: a type byte with the length in it, payload and CRC-16), and
read_records, which reads them back with every check: framing, CRCs, versions and record
order (RecordChecker, which a live stream's packet reader, packets.py, runs too)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import BinaryIO, Iterator

from ..errors import FormatError
from .audio import AudioChunk, AudioHeader
from .checksum import crc_seed, frame_crc
from .order import AudioOrder, FrameOrder
from .records import (FRAME_TYPE, End, Header, KeyFrame, RecordType, TokenChunk, frame_head,
                      frame_type_byte)
from .varint import read_varint, write_varint
from .versions import (FRAME_VERSION, LIVE_VERSION, PAIR_VERSION, PLAIN_VERSION, refuse_unheld,
                       refuse_unreadable, version_for)

MAGIC = b"\x89IMF"


_RECORD_CLASSES = {
    RecordType.HEADER: Header,
    RecordType.KEYFRAME: KeyFrame,
    RecordType.TOKENS: TokenChunk,
    RecordType.END: End,
    RecordType.AUDIO_HEADER: AudioHeader,
    RecordType.AUDIO: AudioChunk,
}
_RECORD_TYPES = {cls: kind for kind, cls in _RECORD_CLASSES.items()}


def file_start(version: tuple[int, int] = PLAIN_VERSION, stream_id: int | None = None) -> bytes:
    """MAGIC and the version; from 9.0 also the stream's id (4 bytes, little-endian)."""
    if (version >= LIVE_VERSION) != (stream_id is not None):
        raise ValueError("a stream id goes with version 9.0 and later, and only there")
    start = MAGIC + bytes(version)
    return start if stream_id is None else start + stream_id.to_bytes(4, "little")


def record_type(record) -> RecordType:
    """The record type number of a record object."""
    return _RECORD_TYPES[type(record)]


def record_bytes(record, stream_id: int | None = None) -> bytes:
    """One framed record: type, varint length, payload, CRC-32 (from 9.0 over the stream id
    too: crc_seed); a FRAME record (10.0): its type byte (FRAME_TYPE plus the payload's
    length), payload, CRC-16."""
    kind = record_type(record)
    payload = record.to_bytes()
    if getattr(record, "compact", False):  # (10.0) a FRAME record: the length in the type byte
        framed = bytes([frame_type_byte(record)]) + payload
        return framed + struct.pack("<H", frame_crc(framed, stream_id, record.first_frame))
    framed = bytes([kind]) + write_varint(len(payload)) + payload
    return framed + struct.pack("<I", zlib.crc32(framed, crc_seed(stream_id)))


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
    writer.start(version_for(records, header))
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


def read_stream_id(stream: BinaryIO, version: tuple[int, int]) -> int | None:
    """The stream id after the version (9.0 and later; None before)."""
    if version < LIVE_VERSION:
        return None
    data = stream.read(4)
    if len(data) != 4:
        raise FormatError("file ends inside the stream id")
    return int.from_bytes(data, "little")


def _read_framed(stream: BinaryIO, position: int, size: int | None, version: tuple[int, int],
                 seed: int) -> tuple[int, object]:
    """One framed record at byte ``position``: (its size in bytes, the record), with its
    length checked against the bytes left and its CRC-32 checked (``seed``: crc_seed)."""
    kind_byte = stream.read(1)
    if not kind_byte:
        raise FormatError("file is truncated (no end record)")
    if kind_byte[0] >= FRAME_TYPE and version >= FRAME_VERSION:
        return _read_frame(stream, position, size, kind_byte, version)
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
    if zlib.crc32(kind_byte + bytes(length_bytes) + payload, seed) != struct.unpack("<I", crc)[0]:
        raise FormatError(f"checksum mismatch in the record at byte {position}"
                          + (" (damaged, or of another stream)" if seed else ""))
    try:
        kind = RecordType(kind_byte[0])
    except ValueError:
        raise FormatError(f"unknown record type {kind_byte[0]} at byte {position + framed_len}") from None
    return framed_len, parse_record(kind, payload)


def _read_frame(stream: BinaryIO, position: int, size: int | None, kind_byte: bytes,
                version: tuple[int, int]) -> tuple[int, TokenChunk]:
    """The rest of a FRAME record (10.0) whose type byte was read (its CRC is checked with its
    order: order.FrameOrder)."""
    length, frames = frame_head(kind_byte[0], version >= PAIR_VERSION)
    if size is not None and position + 1 + length + 2 > size:
        raise FormatError("file is truncated (a record runs past the end)")
    payload, crc = stream.read(length), stream.read(2)
    if len(payload) != length or len(crc) != 2:
        raise FormatError("file is truncated (a record runs past the end)")
    return 1 + length + 2, TokenChunk.frame(payload, crc=struct.unpack("<H", crc)[0], frames=frames)


def parse_record(kind: RecordType, payload: bytes):
    """A checked record's payload -> its record object (FormatError for a bad payload)."""
    return _RECORD_CLASSES[kind].from_bytes(payload)


class RecordChecker:
    """The checks of a stream's records in order: a header first, then the video records'
    order (order.FrameOrder) and the sound's (order.AudioOrder)."""

    def __init__(self, version: tuple[int, int], stream_id: int | None = None) -> None:
        self.version, self.stream_id = version, stream_id
        self.order: FrameOrder | None = None
        self.sound = AudioOrder(version)
        self.count = 0  # records checked

    def check(self, kind: RecordType, record, stream: BinaryIO | None = None) -> None:
        """FormatError where ``record`` cannot come next (``stream``: the rest of a file,
        which must be empty after its END record)."""
        if self.order is None:
            if kind is not RecordType.HEADER:
                raise FormatError("the first record is not a header")
            refuse_unheld(kind, record, self.version)
            self.order = FrameOrder(record, self.version, self.stream_id)
        elif kind in (RecordType.AUDIO_HEADER, RecordType.AUDIO):
            self.sound.check(kind, record, first=self.count == 1)
        else:
            self.order.check(kind, record, stream)
        self.count += 1


def read_records(stream: BinaryIO) -> Iterator[tuple[int, object]]:
    """Yields (record size in bytes, parsed record), checking framing, CRCs and frame order
    as it goes (RecordChecker).

    The first record is always a Header; iteration stops after End. A payload length is
    checked against the bytes left before anything is allocated for it.
    """
    size = _stream_size(stream)
    major, minor = file_version(stream)
    refuse_unreadable(major, minor)
    stream_id = read_stream_id(stream, (major, minor))
    position, seed = 6 if stream_id is None else 10, crc_seed(stream_id)
    checker = RecordChecker((major, minor), stream_id)
    while True:
        framed_len, record = _read_framed(stream, position, size, (major, minor), seed)
        position += framed_len
        kind = record_type(record)
        checker.check(kind, record, stream)
        yield framed_len, record
        if kind is RecordType.END:
            return

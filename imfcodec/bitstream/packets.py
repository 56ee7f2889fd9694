"""A stream read as it arrives: ``PacketReader`` takes bytes in pieces (a TCP connection's) or
one packet at a time (a WebSocket message holds one record, or a stream's start) and gives
back whole records, each with its framing and CRC checked, the way read_records does for a
file. A bad record is consumed and refused with a FormatError; the reader goes on with the
next. Record order is the caller's to check (container.RecordChecker), since a live receiver
that lost a record takes the stream up again at the next intra key frame.
"""

from __future__ import annotations

import struct
import zlib

from ..errors import FormatError
from .container import MAGIC, crc_seed, parse_record
from .records import FRAME_TYPE, End, RecordType, TokenChunk, frame_head
from .versions import FRAME_VERSION, LIVE_VERSION, PAIR_VERSION, refuse_unreadable

# The largest record a live reader buffers (a 1080p intra key frame at the finest QP is a few
# hundred kB): a damaged length cannot make it hold more.
MAX_PACKET = 16 << 20


class Start:
    """A stream's start: its version and (9.0) stream id. A new start begins a new stream."""

    def __init__(self, version: tuple[int, int], stream_id: int | None) -> None:
        self.version, self.stream_id = version, stream_id

    def __repr__(self) -> str:
        return f"Start({self.version}, {self.stream_id})"


def _start(data: bytes | bytearray) -> tuple[int, Start] | None:
    """The start at the head of ``data`` and its length (None: more bytes needed)."""
    if bytes(data[:4]) != MAGIC[: min(4, len(data))]:
        raise FormatError("not the start of an .imf stream (a record before any stream's "
                          "start, or other bytes)")
    if len(data) < 6:
        return None
    version = (data[4], data[5])
    refuse_unreadable(*version)
    if version < LIVE_VERSION:
        return 6, Start(version, None)
    if len(data) < 10:
        return None
    return 10, Start(version, int.from_bytes(data[6:10], "little"))


def _framed(data: bytes | bytearray, start: Start) -> tuple[int, object] | None:
    """The record at the head of ``data`` and its framed length (None: more bytes needed);
    FormatError (with the length it spans, ``.skip``) for a damaged one."""
    if data and data[0] >= FRAME_TYPE and start.version >= FRAME_VERSION:
        return _frame(data, start.version)
    seed = crc_seed(start.stream_id)
    length, shift, pos = 0, 0, 1
    while True:
        if pos >= len(data):
            return None
        byte = data[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            break
        shift += 7
        if shift > 35:
            raise _bad("record length does not end", len(data))
    if length > MAX_PACKET:
        raise _bad(f"record of {length} bytes is too large", len(data))
    end = pos + length + 4
    if len(data) < end:
        return None
    framed = bytes(data[:pos + length])
    if zlib.crc32(framed, seed) != struct.unpack("<I", data[end - 4 : end])[0]:
        raise _bad("checksum mismatch" + (" (damaged, or of another stream)" if seed else ""), end)
    try:
        kind = RecordType(data[0])
    except ValueError:
        raise _bad(f"unknown record type {data[0]}", end) from None
    try:
        return end, parse_record(kind, framed[pos:])
    except FormatError as exc:
        raise _bad(str(exc), end) from None


def _frame(data: bytes | bytearray, version: tuple[int, int]) -> tuple[int, object] | None:
    """A FRAME record (10.0) at the head of ``data``, as _framed; its CRC is checked with its
    order (order.FrameOrder), where its frame's index is known."""
    length, frames = frame_head(data[0], version >= PAIR_VERSION)
    end = 1 + length + 2
    if len(data) < end:
        return None
    crc = struct.unpack("<H", data[end - 2 : end])[0]
    return end, TokenChunk.frame(bytes(data[1 : end - 2]), crc=crc, frames=frames)


def _bad(message: str, skip: int) -> FormatError:
    error = FormatError(message)
    error.skip = skip
    return error


class PacketReader:
    """Records of one or more streams, from bytes pushed in pieces or as whole packets."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.start: Start | None = None  # the current stream's start (None: a start is next)
        self.size = 0  # bytes of the last start or record read

    def _take(self, data: bytes | bytearray) -> tuple[int, object] | None:
        if self.start is None or bytes(data[:4]) == MAGIC:
            found = _start(data)
            if found is not None:
                self.start = found[1]
            return found
        found = _framed(data, self.start)
        if found is not None and isinstance(found[1], End):
            self.start = None  # another stream may follow
        return found

    def packet(self, data: bytes) -> object:
        """One whole packet (a WebSocket message): a Start, or one record. FormatError for a
        packet that is damaged, cut short or longer than its record."""
        try:
            found = self._take(data)
        except FormatError as exc:
            raise FormatError(f"bad packet: {exc}") from None
        if found is None:
            raise FormatError(f"bad packet: cut short ({len(data)} bytes)")
        if found[0] != len(data):
            raise FormatError(f"bad packet: {len(data) - found[0]} bytes after its record")
        self.size = found[0]
        return found[1]

    def feed(self, data: bytes) -> None:
        """More bytes of a byte stream (a TCP connection's)."""
        self.buffer += data
        if len(self.buffer) > MAX_PACKET + 16:
            self.buffer.clear()
            raise FormatError("bad stream: a record longer than any packet")

    def read(self) -> object | None:
        """The next Start or record of the bytes fed (None: more bytes needed). A damaged
        record is dropped and refused with a FormatError; call again for the next."""
        try:
            found = self._take(self.buffer)
        except FormatError as exc:
            del self.buffer[: getattr(exc, "skip", len(self.buffer))]
            raise FormatError(f"bad packet: {exc}") from None
        if found is None:
            return None
        del self.buffer[: found[0]]
        self.size = found[0]
        return found[1]

"""The fields records are made of: unsigned LEB128 varints, zigzag for signed values, and
Cursor, which reads a record's payload field by field (every overrun a FormatError)."""

from __future__ import annotations

from ..errors import FormatError

MAX_VARINT_BYTES = 10


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


def zigzag(value: int) -> int:
    """A signed integer as an unsigned one: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ..."""
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2

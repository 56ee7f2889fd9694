"""A range coder whose output ends on any byte: what a live stream's one-frame token record
(format 10.0, docs/format.md "FRAME") is coded with.

constriction's range coder writes 32-bit words and seals its stream with whole words: a frame's
few dozen bits of token then take 8 or 12 bytes, of which a third or more is padding (a record
a frame at 25 fps pays it 25 times a second). This coder writes bytes and ends its stream with
the fewest bytes that still name a point inside the last interval (the decoder reads zero
bytes past the end), so a frame costs its information rounded up to a byte.

Integer arithmetic only (Python integers), on the same fixed tables as constriction's chunks
(tables.py): every machine reads the same symbols from the same bytes.

The coder keeps an interval [low, low + range) of the numbers written so far, scaled so that
``range`` stays in (2**56, 2**64]. A symbol s of a table with cumulative frequencies c (total
2**TOTAL_BITS) narrows it to r = range >> TOTAL_BITS, low += r * c[s], range = r * (c[s + 1] -
c[s]); while range <= 2**56 both are shifted left by a byte. The stream is the big-endian
bytes of the number V in the final interval with the most trailing zero bytes, those zeros
left out.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import lru_cache

from ..errors import FormatError
from .tables import ALPHABET, TOTAL_BITS, frequency_table

TOP = 1 << 64  # the interval's width at the start
BOTTOM = 1 << 56  # a byte is shifted out while the width is at most this
HEAD = 8  # bytes the decoder reads before the first symbol
TOTAL = 1 << TOTAL_BITS


@lru_cache(maxsize=None)
def cumulative() -> tuple[tuple[int, ...], ...]:
    """Each table's cumulative frequencies: ALPHABET + 1 integers from 0 to 2**TOTAL_BITS."""
    out = []
    for row in frequency_table():
        cum = [0]
        for f in row.tolist():
            cum.append(cum[-1] + f)
        out.append(tuple(cum))
    return tuple(out)


class ByteEncoder:
    def __init__(self) -> None:
        self.low, self.range, self.shifts = 0, TOP, 0

    def _narrow(self, start: int, width: int) -> None:
        self.low += start
        self.range = width
        while self.range <= BOTTOM:
            self.low <<= 8
            self.range <<= 8
            self.shifts += 1

    def encode(self, symbol: int, table: int) -> None:
        """``symbol`` in 0..ALPHABET-1 with the fixed table ``table``."""
        if not 0 <= symbol < ALPHABET:
            raise ValueError("symbol outside the coder's alphabet")
        cum = cumulative()[table]
        r = self.range >> TOTAL_BITS
        self._narrow(r * cum[symbol], r * (cum[symbol + 1] - cum[symbol]))

    def finish(self) -> bytes:
        """The stream: the fewest bytes whose continuation by zero bytes lies in the interval."""
        return _shortest(self.low, self.range, HEAD + self.shifts)


def _shortest(low: int, width: int, size: int) -> bytes:
    """The first bytes of the ``size``-byte number in [low, low + width) with the most trailing
    zero bytes, those zeros left out."""
    for kept in range(size + 1):
        unit = 1 << (8 * (size - kept))
        value = -(-low // unit) * unit
        if value < low + width:
            return value.to_bytes(size, "big")[:kept]
    raise AssertionError("unreachable: the whole number always lies in the interval")


class ByteDecoder:
    """Reads what ByteEncoder wrote, symbol for symbol; ``finish`` checks that the bytes are
    exactly those ByteEncoder writes for the symbols read (FormatError): a frame is read from
    one string of bytes only."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.pos = HEAD
        self.code = int.from_bytes(self.data[:HEAD].ljust(HEAD, b"\0"), "big")
        self.range = TOP

    def _narrow(self, start: int, width: int) -> None:
        self.code -= start
        self.range = width
        while self.range <= BOTTOM:
            byte = self.data[self.pos] if self.pos < len(self.data) else 0
            self.code = (self.code << 8) | byte
            self.range <<= 8
            self.pos += 1

    def decode(self, table: int) -> int:
        cum = cumulative()[table]
        r = self.range >> TOTAL_BITS
        value = self.code // r
        if value >= TOTAL:
            raise FormatError("token frame does not decode (a point outside the interval)")
        symbol = bisect_right(cum, value) - 1
        self._narrow(r * cum[symbol], r * (cum[symbol + 1] - cum[symbol]))
        return symbol

    def finish(self) -> None:
        if len(self.data) > self.pos:
            raise FormatError("token frame has bytes left over after its last symbol")
        point = int.from_bytes(self.data.ljust(self.pos, b"\0"), "big")
        if _shortest(point - self.code, self.range, self.pos) != self.data:
            raise FormatError("token frame is not the shortest coding of its symbols")

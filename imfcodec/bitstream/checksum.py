"""The records' checksums: a CRC-32 (zlib's) over each framed record, from version 9.0 seeded
with the stream id; from 10.0 a CRC-16 (CRC-16/XMODEM, the standard library's
binascii.crc_hqx) over each FRAME record, seeded with the stream id and the frame's index, so
that a FRAME record of another stream, out of order or after a lost one fails its check."""

from __future__ import annotations

import binascii
import zlib


def crc_seed(stream_id: int | None) -> int:
    """Where a record's CRC-32 starts: 0, or (9.0) the CRC-32 of the stream id's 4 bytes, so
    that the CRC covers the stream id followed by the framed record and a record of another
    stream fails its check."""
    return 0 if stream_id is None else zlib.crc32(stream_id.to_bytes(4, "little"))


def frame_crc(framed: bytes, stream_id: int | None, frame_index: int) -> int:
    """A FRAME record's CRC-16: over the stream id's 4 bytes (none without one), the frame's
    index (4 bytes, little-endian, modulo 2**32), then its type byte and payload."""
    seed = b"" if stream_id is None else stream_id.to_bytes(4, "little")
    head = seed + (frame_index & 0xFFFFFFFF).to_bytes(4, "little")
    return binascii.crc_hqx(framed, binascii.crc_hqx(head, 0))

"""The .imf container: pure bytes, no torch. docs/format.md describes it byte by byte.

File = MAGIC (4 bytes) | version major (u8) | version minor (u8) | records...
Record = type (u8) | payload length (varint) | payload | CRC-32 of type, length and payload
(u32 little-endian). The first record is HEADER, the last END; KEYFRAME and TOKENS records
come between them in frame order, except that from version 2.0 a key frame may be sent ahead
of the frames before it that are rebuilt from it (its "leading frames", docs/format.md).
From version 4.0 a file may carry sound: one AUDIO_HEADER right after the HEADER, and AUDIO
records (Opus packets) interleaved with the video records by time. From version 7.0 the
picture may have the input's own size, the HEADER naming the square region the motion model
sees.

The modules, each importing only those listed before it:
  varint.py     varints, zigzag and Cursor: the fields payloads are made of
  records.py    the video records' payloads: Header, KeyFrame, TokenChunk, End (RecordType)
  opus.py       Opus packet parsing: the samples a packet decodes to, from its TOC byte
  audio.py      the sound's records: AudioHeader, AudioChunk; interleave
  versions.py   the format versions: what records need (version_for), what readers refuse
  order.py      the reader's record order checks (FrameOrder, AudioOrder)
  container.py  the framing: MAGIC, record_bytes, Writer, pack, file_version, read_records
This package re-exports what the rest of imfcodec uses.
"""

from .audio import AUDIO_RATE, OPUS, AudioChunk, AudioHeader, interleave
from .container import (
    MAGIC,
    Writer,
    file_start,
    file_version,
    pack,
    read_records,
    record_bytes,
)
from .opus import OPUS_MAX_PACKET_SAMPLES, opus_samples
from .records import (
    MAX_FRAME_PAYLOAD,
    MAX_PAIR_PAYLOAD,
    MAX_REFERENCES,
    End,
    Fit,
    Header,
    KeyFrame,
    KeyReason,
    RecordType,
    TokenChunk,
)
from .varint import read_varint, write_varint
from .versions import (
    AUDIO_VERSION,
    BLEND_VERSION,
    LEADING_VERSION,
    PLAIN_VERSION,
    PREDICTED_KEY_CODEC,
    PREDICTED_VERSION,
    READ_MAJORS,
    REFERENCES_VERSION,
    SIZE_VERSION,
    version_for,
)

__all__ = [
    "AUDIO_RATE",
    "AUDIO_VERSION",
    "BLEND_VERSION",
    "LEADING_VERSION",
    "MAGIC",
    "MAX_FRAME_PAYLOAD",
    "MAX_PAIR_PAYLOAD",
    "MAX_REFERENCES",
    "OPUS",
    "OPUS_MAX_PACKET_SAMPLES",
    "PLAIN_VERSION",
    "PREDICTED_KEY_CODEC",
    "PREDICTED_VERSION",
    "READ_MAJORS",
    "REFERENCES_VERSION",
    "SIZE_VERSION",
    "AudioChunk",
    "AudioHeader",
    "End",
    "Fit",
    "Header",
    "KeyFrame",
    "KeyReason",
    "RecordType",
    "TokenChunk",
    "Writer",
    "file_start",
    "file_version",
    "interleave",
    "opus_samples",
    "pack",
    "read_records",
    "read_varint",
    "record_bytes",
    "version_for",
    "write_varint",
]

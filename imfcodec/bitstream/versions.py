"""The format versions: which version a set of records needs (version_for, for writers), and
how a reader refuses what its version cannot hold (refuse_unreadable: a major version this
imfcodec does not read; refuse_unheld: a record that came in a later version than its file's).
docs/format.md lists what each version added."""

from __future__ import annotations

from ..errors import FormatError
from .audio import AudioChunk, AudioHeader
from .records import KeyFrame, KeyReason, RecordType, TokenChunk

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
SIZE_VERSION = (7, 0)  # the picture at the input's own size: a motion region in the header
GLOBAL_VERSION = (8, 0)  # the picture's global motion: 8 more numbers in every token
# A live stream (imfcodec/live/): a stream id in the start that every record's CRC covers, a
# header that may leave the frame count open (the END record counts them), token chunks whose
# tables follow the tokens before them, and key frames a receiver asked for.
LIVE_VERSION = (9, 0)
# A live stream whose predicted token frames go one to a FRAME record: a type byte that holds the
# payload's length, the frame's residuals byte-coded, a CRC-16 (docs/format.md, "FRAME").
FRAME_VERSION = (10, 0)
# A live stream whose FRAME records may span two frames, the first rebuilt between its
# neighbours' tokens (its token not sent): bit 6 of the type byte (docs/format.md, "FRAME").
PAIR_VERSION = (11, 0)
# A live stream whose key frames may be sent ahead of their leading frames, as 2.0 allows a
# file's (a stream with a latency budget, `send --delay`: docs/live.md); below 12.0 a live
# stream's frames come in order.
AHEAD_VERSION = (12, 0)
PREDICTED_KEY_CODEC = 3  # intra.PREDICTED_HEVC: an HEVC P picture from the key frame before
READ_MAJORS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)


def version_for(records, header=None) -> tuple[int, int]:
    """The lowest format version that holds these records (and ``header``): 12.0 for a live
    stream with a key frame sent ahead of its leading frames, 11.0 for a live
    stream with FRAME records of two frames, 10.0 with FRAME records, 9.0 for a live stream's other records (an open frame count,
    adaptive token tables, a key frame a receiver asked for),
    8.0 for a picture with a global motion, 7.0 with a motion region, 6.0 with blended chunks, 5.0 with reference indices, 4.0
    with sound, 3.0 if a key frame is predicted, 2.0 if a key frame is sent ahead of frames
    before it, else 1.0."""
    records = list(records)
    live = (header is not None and header.frame_count == 0) or any(
        (isinstance(r, TokenChunk) and (r.adaptive or r.compact))
        or (isinstance(r, KeyFrame) and r.reason is KeyReason.REQUEST) for r in records)
    if live and _leads(records):
        return AHEAD_VERSION
    if any(isinstance(r, TokenChunk) and r.compact and r.frame_count == 2 for r in records):
        return PAIR_VERSION
    if any(isinstance(r, TokenChunk) and r.compact for r in records):
        return FRAME_VERSION
    if live:
        return LIVE_VERSION
    if header is not None and header.global_motion:
        return GLOBAL_VERSION
    if header is not None and header.region is not None:
        return SIZE_VERSION
    if any(isinstance(r, TokenChunk) and r.partner is not None for r in records):
        return BLEND_VERSION
    if any(isinstance(r, TokenChunk) and r.reference for r in records):
        return REFERENCES_VERSION
    if any(isinstance(r, (AudioHeader, AudioChunk)) for r in records):
        return AUDIO_VERSION
    if any(isinstance(r, KeyFrame) and r.codec == PREDICTED_KEY_CODEC for r in records):
        return PREDICTED_VERSION
    return LEADING_VERSION if _leads(records) else PLAIN_VERSION


def _leads(records) -> bool:
    """Whether a key frame is sent ahead of frames before it."""
    covered = 0
    for record in records:
        if isinstance(record, KeyFrame):
            if record.frame_index > covered:
                return True
            covered = record.frame_index + 1
        elif isinstance(record, TokenChunk):  # (a FRAME record read alone: the next frame)
            first = covered if record.first_frame is None else record.first_frame
            covered = first + record.frame_count
    return False


def leading_held(version: tuple[int, int]) -> bool:
    """Whether a stream of ``version`` may send a key frame ahead of its leading frames: a file
    from 2.0 on, a live stream (9.0 to 11.0 keep frames in order) from 12.0 on."""
    return version >= LEADING_VERSION and not LIVE_VERSION <= version < AHEAD_VERSION


def refuse_unreadable(major: int, minor: int) -> None:
    """FormatError for a file whose major version this imfcodec does not read."""
    if major not in READ_MAJORS:
        names = [f"{m}.x" for m in READ_MAJORS]
        readable = ", ".join(names[:-1]) + " and " + names[-1]
        raise FormatError(
            f"format version {major}.{minor} is not supported (this imfcodec reads {readable})"
        )


def refuse_unheld(kind: RecordType, record, version: tuple[int, int]) -> None:
    """FormatError for a record that a file of ``version`` cannot hold: a predicted key frame
    below 3.0, sound below 4.0, a token chunk's reference index below 5.0 and its blended key
    frame below 6.0. (Leading frames, 2.0, are a matter of record order: order.FrameOrder.)"""
    major = version[0]
    if kind is RecordType.HEADER:
        if record.region is not None and version < SIZE_VERSION:
            raise FormatError(f"a motion region in the header of a version {major}.{version[1]} "
                              f"file (they came in 7.0)")
        if record.global_motion and version < GLOBAL_VERSION:
            raise FormatError(f"a global motion in the header of a version {major}.{version[1]} "
                              f"file (it came in 8.0)")
        if record.frame_count == 0 and version < LIVE_VERSION:
            raise FormatError(f"header: frame count 0 in a version {major}.{version[1]} file (an "
                              f"open count came in 9.0)")
    elif kind is RecordType.KEYFRAME:
        if record.codec == PREDICTED_KEY_CODEC and version < PREDICTED_VERSION:
            raise FormatError(f"a predicted key frame in a version {major}."
                              f"{version[1]} file (they came in 3.0)")
        if record.reason is KeyReason.REQUEST and version < LIVE_VERSION:
            raise FormatError(f"a key frame a receiver asked for in a version {major}."
                              f"{version[1]} file (they came in 9.0)")
    elif kind is RecordType.TOKENS:
        if record.reference and version < REFERENCES_VERSION:
            raise FormatError(f"a token chunk with a reference index in a version "
                              f"{major}.{version[1]} file (they came in 5.0)")
        if record.partner is not None and version < BLEND_VERSION:
            raise FormatError(f"a blended token chunk in a version {major}."
                              f"{version[1]} file (they came in 6.0)")
        if record.compact and version < FRAME_VERSION:
            raise FormatError(f"a FRAME record in a version {major}.{version[1]} file (they "
                              f"came in 10.0)")
        if record.compact and record.frame_count == 2 and version < PAIR_VERSION:
            raise FormatError(f"a FRAME record of two frames in a version {major}.{version[1]} "
                              f"file (they came in 11.0)")
        if record.adaptive and version < LIVE_VERSION:
            raise FormatError(f"a token chunk with adaptive tables in a version {major}."
                              f"{version[1]} file (they came in 9.0)")
    elif kind in (RecordType.AUDIO_HEADER, RecordType.AUDIO) and version < AUDIO_VERSION:
        raise FormatError(f"an audio record in a version {version[0]}.{version[1]} "
                          f"file (they came in 4.0)")

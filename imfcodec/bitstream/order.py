"""The reader's order checks: FrameOrder (the video records after the HEADER cover every
frame once, in display order, leading frames aside) and AudioOrder (the sound's records and
their granule positions). container.read_records runs them on every record it reads."""

from __future__ import annotations

from typing import BinaryIO

from ..errors import FormatError
from .audio import AudioHeader
from .checksum import frame_crc
from .records import End, Header, RecordType, TokenChunk, frame_type_byte
from .versions import leading_held, refuse_unheld


class FrameOrder:
    """Checks that the records after the header cover every frame once, in display order,
    except a key frame sent ahead of its leading frames (version 2; a live stream's from 12.0),
    whose frame is counted when the token chunks reach it."""

    def __init__(self, header: Header, version: tuple[int, int],
                 stream_id: int | None = None) -> None:
        self.header, self.major, self.version = header, version[0], version
        self.stream_id = stream_id  # (10.0) with the frame's index, in a FRAME record's CRC
        self.seen = 0  # the frames covered so far, in display order
        self.ahead: int | None = None  # a key frame read whose leading frames are still to come
        self.keys = 0  # key frames read so far
        # (9.0) a live stream's header may leave the count open: the END record gives it
        self.count = header.frame_count or None

    def check(self, kind: RecordType, record, stream: BinaryIO) -> None:
        if kind is RecordType.HEADER:
            raise FormatError("a second header record")
        refuse_unheld(kind, record, self.version)
        if kind is RecordType.KEYFRAME:
            self._key_frame(record.frame_index)
            self.keys += 1
        elif kind is RecordType.TOKENS:
            furthest = max(record.reference, record.partner or 0)
            if furthest >= self.keys:
                raise FormatError(f"token chunk refers to key frame {furthest} back, "
                                  f"{self.keys} received")
            self._tokens(record)
        if self.count is not None and self.seen > self.count:
            raise FormatError(f"more frames than the header's {self.count}")
        if kind is RecordType.END:
            self._end(record, stream)

    def resync(self, index: int) -> None:
        """A live receiver that lost records takes up the stream again at the intra key frame
        of frame ``index`` (the frames before it that it has not seen are lost)."""
        if index < self.seen:
            raise FormatError(f"key frame for frame {index}, {self.seen} already seen")
        self.seen, self.ahead = index, None

    def _key_frame(self, index: int) -> None:
        if self.ahead is not None:
            raise FormatError(f"key frame for frame {index} before frames {self.seen}.."
                              f"{self.ahead - 1}, ahead of the key frame at {self.ahead}")
        if index < self.seen or (index > self.seen and not leading_held(self.version)):
            raise FormatError(f"key frame for frame {index}, expected {self.seen}")
        if index == self.seen:
            self.seen += 1
        else:
            self.ahead = index
        if self.count is not None and index >= self.count:
            raise FormatError(f"key frame for frame {index}, header counts {self.count}")

    def _tokens(self, record: TokenChunk) -> None:
        if record.compact:  # (10.0) a FRAME record: the next frame not yet held
            self._frame(record)
        if record.first_frame != self.seen or (self.seen == 0 and self.ahead is None):
            raise FormatError(f"token chunk for frame {record.first_frame}, expected {self.seen}")
        if record.frame_count > self.header.chunk_frames and not record.compact:
            raise FormatError(f"token chunk of {record.frame_count} frames, header allows "
                              f"{self.header.chunk_frames}")
        self.seen += record.frame_count
        if self.ahead is not None:
            if self.seen > self.ahead:
                raise FormatError(f"token chunk for frames {record.first_frame}.."
                                  f"{self.seen - 1} runs over the key frame at {self.ahead}")
            if self.seen == self.ahead:
                self.seen, self.ahead = self.ahead + 1, None

    def _frame(self, record: TokenChunk) -> None:
        """A FRAME record's (first) frame is the next not yet held; its CRC, over that index,
        says whether it is (a lost or reordered record fails it, as a damaged one does). (A
        FRAME record spans 1 or 2 frames whatever the header's chunk size.)"""
        framed = bytes([frame_type_byte(record)]) + record.data
        if self.seen == 0 or self.ahead is not None or \
                frame_crc(framed, self.stream_id, self.seen) != record.crc:
            raise FormatError(f"checksum mismatch in the FRAME record for frame {self.seen} "
                              f"(damaged, out of order, or of another stream)")
        record.first_frame = self.seen

    def _end(self, record: End, stream: BinaryIO) -> None:
        if self.ahead is not None:
            raise FormatError(f"file ends before the frames ahead of the key frame at {self.ahead}")
        count = self.count if self.count is not None else self.seen
        if record.frame_count != count or self.seen != count or not count:
            raise FormatError(f"end record counts {record.frame_count} frames, header "
                              f"{self.count or 'open'}, records {self.seen}")
        if stream is not None and stream.read(1):
            raise FormatError("unexpected data after the end record")


class AudioOrder:
    """Checks the sound's records (version 4.0): one AUDIO_HEADER, first after the HEADER;
    AUDIO records after it whose granule positions grow by at most what their packets decode
    to, and, once a record has trimmed its end, no more AUDIO records."""

    def __init__(self, version: tuple[int, int]) -> None:
        self.version = version
        self.header: AudioHeader | None = None
        self.decoded = 0  # samples the packets so far decode to
        self.end = 0  # the last granule position
        self.trimmed = False
        self.lost = False

    def check(self, kind: RecordType, record, first: bool) -> None:
        refuse_unheld(kind, record, self.version)
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
        if self.lost:  # a live receiver lost records: the sound goes on from this one's start
            self.decoded, self.lost = max(self.end, record.end - record.samples), False
        self.decoded += record.samples
        if not self.end < record.end <= self.decoded:
            raise FormatError(f"audio: granule position {record.end} outside "
                              f"{self.end + 1}..{self.decoded}")
        self.end = record.end
        self.trimmed = record.end < self.decoded

    def resync(self) -> None:
        """A live receiver lost records (of which kind it cannot tell): the next AUDIO record
        is taken as following straight on from where its own packets begin."""
        if self.header is not None:
            self.lost = True

"""The sound's records (version 4.0) and their (de)serialisation: AUDIO_HEADER (AudioHeader)
and AUDIO (AudioChunk, a run of Opus packets); and interleave, which places AUDIO records
among the video records by time."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

from ..errors import FormatError
from .opus import opus_samples
from .records import KeyFrame, TokenChunk
from .varint import Cursor, unzigzag, write_varint, zigzag

AUDIO_RATE = 48000  # the audio timeline's samples per second (Opus always decodes at 48 kHz)
OPUS = 1  # AUDIO_HEADER codec
MAX_AUDIO_CHANNELS = 2
MAX_PRE_SKIP = 65535
MAX_AUDIO_PACKETS = 4096  # in one AUDIO record
MAX_OPUS_PACKET = 1275 * 48 + 8  # RFC 6716's longest packet, with its framing bytes


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

"""Sound: one of the input's audio streams (the first, unless asked) coded with Opus, carried
beside the video.

Encoding reads the audio as it decodes (io/audio.py), at 48 kHz, codes it with libopus tuned
for speech (application "voip", 20 ms frames, variable rate) and groups the packets into
AUDIO records of about a second each, each with the time of its first sample so that
bitstream.interleave can place it among the video records. Decoding turns the AUDIO records
back into timed packets, which io/audio.py muxes into the output as they are: the sound is
coded once, never a second time on the way out.

Times: sample n of the decoded sound (after the pre-skip) plays at start + n / 48000 seconds
from the first video frame (AudioHeader.start, in 1/48000 s, may be negative).

Length: the sound is kept whole, as FFmpeg keeps streams (no -shortest), even where it runs
past the video's end; a player then shows the last picture while it plays. Rates count each
part over its own length, and the file over the longer of the two (``file_seconds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av

from . import bitstream as bs
from .errors import IMFError, InputError
from .io.audio import RATE, AudioInfo, layout, probe_audio, read_audio

# Chosen by measurement (benchmarks/audio_rates.py, benchmarks/audio/rates.json, README
# "Sound"): intelligibility (STOI) of espeak-ng speech is 0.890 at 6k, 0.949 at 8k, 0.958 at
# 10k, 0.974 at 12k, 0.980 at 16k and 0.990 at 24k; past 12k a kbps buys under 0.002 of it.
DEFAULT_BITRATE = 12000
BITRATE_RANGE = (6000, 256000)  # libopus's useful range for one or two channels
# Sound running past the video by up to this much (before its first frame and after its last
# together: an AAC encoder's priming, the last audio frame, a short lead-in) counts within the
# video's length; longer, the file lasts as long as the sound, and encode says so.
LONGER = 0.5
CHANNELS = (1, 2)
FRAME = 960  # samples of one 20 ms Opus frame at 48 kHz
OPUS_OPTIONS = {"application": "voip", "frame_duration": "20", "vbr": "on"}


@dataclass(frozen=True)
class AudioSettings:
    """How the sound is coded: ``bitrate`` in bits per second (None: DEFAULT_BITRATE, which
    rate control for a whole file, ``--bitrate``, may lower toward the lowest to leave the
    video its share; a rate given is kept), ``channels`` 1 (mono, the default: a stereo input
    is mixed down) or 2 (kept stereo where the input is), ``stream`` which of the input's
    audio streams (0: the first)."""

    bitrate: int | None = None
    channels: int = 1
    stream: int = 0

    def __post_init__(self) -> None:
        lo, hi = BITRATE_RANGE
        if not lo <= self.rate <= hi:
            raise InputError(f"--audio-bitrate: {self.rate / 1000:g} kbps is out of range "
                             f"({lo // 1000}k .. {hi // 1000}k)")
        if self.channels not in CHANNELS:
            raise InputError(f"--audio-channels must be 1 or 2, got {self.channels}")
        if not isinstance(self.stream, int) or self.stream < 0:
            raise InputError(f"--audio-stream must be 0 or more, got {self.stream}")

    @property
    def rate(self) -> int:
        """The Opus rate, bits per second: as given, or the default."""
        return DEFAULT_BITRATE if self.bitrate is None else self.bitrate


@dataclass
class AudioTrack:
    """A coded sound: its AUDIO_HEADER record, its AUDIO records each with the time of its
    first sample (seconds from the first video frame), and what it was coded from."""

    header: bs.AudioHeader
    chunks: list[tuple[float, bs.AudioChunk]] = field(repr=False)
    samples: int  # decoded samples (48 kHz) after pre-skip and end trimming
    source: AudioInfo

    @property
    def seconds(self) -> float:
        return self.samples / RATE

    @property
    def bytes(self) -> int:
        """Its share of the file: every audio record, framing and checksums included."""
        return len(bs.record_bytes(self.header)) + sum(len(bs.record_bytes(c)) for _, c in self.chunks)

    @property
    def kbps(self) -> float:
        """Its rate over its own length."""
        return self.bytes * 8 / 1000 / self.seconds if self.seconds else 0.0

    def describe(self) -> dict:
        return {**describe(self.header, self.samples), "source_codec": self.source.codec,
                "source_stream": self.source.index, "source_streams": self.source.streams}


def describe(header: bs.AudioHeader, samples: int) -> dict:
    """JSON-ready facts of a sound (encode summaries and `imfcodec info`)."""
    return {"codec": "opus", "sample_rate": RATE, "source_sample_rate": header.source_rate,
            "channels": header.channels, "seconds": round(samples / RATE, 4),
            "start_seconds": round(header.start / RATE, 4), "target_bitrate": header.bitrate}


def beyond(video_seconds: float, start: float, seconds: float) -> float:
    """Seconds of a sound (``start`` seconds from the first frame, ``seconds`` long) outside
    the video's 0..``video_seconds``: before its first frame and after its end together."""
    return max(0.0, -start) + max(0.0, start + seconds - video_seconds)


def file_seconds(video_seconds: float, start: float | None = None,
                 seconds: float | None = None) -> float:
    """How long a file lasts: the video's length, or the span of video and sound where the
    sound runs more than LONGER past it (no sound: ``start``/``seconds`` None)."""
    if start is None or seconds is None:
        return video_seconds
    extra = beyond(video_seconds, start, seconds)
    return video_seconds + extra if extra > LONGER else video_seconds


def _encoder(settings: AudioSettings, channels: int) -> av.CodecContext:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = RATE
    ctx.layout = layout(channels)
    ctx.format = "s16"
    ctx.bit_rate = settings.rate
    ctx.time_base = Fraction(1, RATE)
    ctx.options = dict(OPUS_OPTIONS)
    ctx.open()
    return ctx


def opus_head(channels: int, pre_skip: int, source_rate: int) -> bytes:
    """The OpusHead (RFC 7845, section 5.1) muxers want as the stream's extradata."""
    return (b"OpusHead" + bytes([1, channels]) + pre_skip.to_bytes(2, "little")
            + source_rate.to_bytes(4, "little") + (0).to_bytes(2, "little") + bytes([0]))


def encode_audio(path: str | Path, video_start: float, settings: AudioSettings,
                 chunk_seconds: float = 1.0) -> AudioTrack | None:
    """The audio stream ``settings.stream`` (0: the first) of ``path`` coded with Opus; None
    when the input has no audio stream, or it holds no samples (InputError when it has some,
    but not that one). ``video_start``: the first video frame's time on the container's
    clock."""
    info = probe_audio(path, settings.stream)
    if info is None:
        return None
    channels = min(settings.channels, max(1, info.channels))
    encoder = _encoder(settings, channels)
    per_chunk = max(1, round(chunk_seconds * RATE / FRAME))
    chunks: list[tuple[int, list[bytes]]] = []  # (samples decoded before it, its packets)
    decoded = fed = 0
    start = first_pts = None

    def take(coded: Iterable[av.Packet]) -> None:
        nonlocal decoded, first_pts
        for packet in coded:
            data = bytes(packet)
            if first_pts is None:
                first_pts = packet.pts
            if not chunks or len(chunks[-1][1]) == per_chunk:
                chunks.append((decoded, []))
            chunks[-1][1].append(data)
            decoded += bs.opus_samples(data)

    try:
        for time, frame in read_audio(path, channels, FRAME, info.index):
            if start is None and time is not None:
                start = time
            frame.pts = fed
            fed += frame.samples
            take(encoder.encode(frame))
        take(encoder.encode(None))
    except av.FFmpegError as exc:
        raise IMFError(f"{path}: the Opus encoder failed ({exc})") from None
    if fed == 0 or not chunks:
        return None
    pre_skip = -first_pts if first_pts is not None and first_pts < 0 else 0
    offset = round(((start if start is not None else video_start) - video_start) * RATE)
    header = bs.AudioHeader(bs.OPUS, channels, info.rate or RATE, pre_skip, offset, settings.rate)
    records: list[tuple[float, bs.AudioChunk]] = []
    throughs = [before for before, _ in chunks[1:]] + [decoded]  # decoded through each chunk
    for (before, data), through in zip(chunks, throughs):
        # the granule: what the packets decode to, less the encoder's padding at the end
        end = min(through, pre_skip + fed)
        if end > before:
            records.append(((offset + before - pre_skip) / RATE, bs.AudioChunk(end, data)))
    return AudioTrack(header, records, fed, info)


class SoundClock:
    """Times the sound's packets as its AUDIO records come: the packet that starts at decoded
    sample d plays from start + d - pre_skip (1/48000 s from the first video frame), for its
    samples, less what the last record trims from the end."""

    def __init__(self, header: bs.AudioHeader) -> None:
        self.header = header
        self.decoded = 0  # samples the packets so far decode to

    def packets(self, chunk: bs.AudioChunk, resync: bool = False) -> list[tuple[int, int, bytes]]:
        """(pts, duration, data) of the record's packets to play. ``resync``: records before
        it were lost (a live receiver), so it goes on from where its own packets begin."""
        if resync:
            self.decoded = max(self.decoded, chunk.end - chunk.samples)
        out = []
        for data in chunk.packets:
            samples = bs.opus_samples(data)
            duration = min(samples, chunk.end - self.decoded)
            if duration > 0:
                out.append((self.header.start + self.decoded - self.header.pre_skip, duration, data))
            self.decoded += samples
        return out


def timed_packets(header: bs.AudioHeader, chunks: Iterable[bs.AudioChunk]) -> Iterator[tuple[int, int, bytes]]:
    """(pts, duration, data) of every packet to play (SoundClock)."""
    clock = SoundClock(header)
    for chunk in chunks:
        yield from clock.packets(chunk)


def extradata(header: bs.AudioHeader) -> bytes:
    return opus_head(header.channels, header.pre_skip, header.source_rate)


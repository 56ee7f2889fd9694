"""Sound through FFmpeg: one of the input's audio streams read as 48 kHz PCM frames, and Opus
packets muxed into an output (an mp4 or mkv beside the video, or an Ogg .opus file alone).

Both directions stream: the input is decoded and resampled a frame at a time, and packets
are muxed as they come, so a long track is never held in memory as samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from ..errors import InputError

RATE = 48000  # Opus codes and decodes at 48 kHz
GAP = 0.02  # seconds: a longer hole between an input's audio timestamps is filled with silence


@dataclass(frozen=True)
class AudioInfo:
    """One of the input's audio streams, as its container describes it."""

    codec: str
    rate: int
    channels: int
    index: int = 0  # which of the input's audio streams (0: the first)
    streams: int = 1  # how many audio streams the input has
    label: str = ""  # its language and title, where the container names them


def layout(channels: int) -> str:
    """FFmpeg's channel layout for the sound's 1 or 2 channels."""
    return "mono" if channels == 1 else "stereo"


def _codec_name(stream) -> str:
    """The stream's codec as FFmpeg names the format (mp3, aac), not its decoder (mp3float)."""
    codec = stream.codec_context.codec
    return getattr(codec, "canonical_name", None) or codec.name or "unknown"


def _describe(stream) -> str:
    return f"audio stream {stream.index} ({_codec_name(stream)})"


def _label(stream) -> str:
    """'eng, "Commentary"' from the stream's language and title tags, or ''."""
    tags = {k.lower(): v for k, v in (stream.metadata or {}).items()}
    language = tags.get("language", "")
    language = "" if language in ("und", "") else language
    title = f'"{tags["title"]}"' if tags.get("title") else ""
    return ", ".join(part for part in (language, title) if part)


def probe_audio(path: str | Path, index: int = 0) -> AudioInfo | None:
    """The audio stream ``index`` (0: the first) of a file FFmpeg reads; None when it has no
    audio stream and the first was asked for; InputError for an index it does not have."""
    with av.open(str(path), "r") as container:
        streams = container.streams.audio
        if index >= len(streams):
            if not streams and index == 0:
                return None
            have = "no audio stream" if not streams else \
                f"{len(streams)} audio stream{'s' if len(streams) > 1 else ''} (0..{len(streams) - 1})"
            raise InputError(f"--audio-stream {index}: the input has {have}")
        stream = streams[index]
        ctx = stream.codec_context
        return AudioInfo(_codec_name(stream), ctx.sample_rate or 0, ctx.channels or 0, index,
                         len(streams), _label(stream))


def read_audio(path: str | Path, channels: int, frame_size: int,
               index: int = 0) -> Iterator[tuple[float | None, av.AudioFrame]]:
    """The audio stream ``index`` (0: the first) as 16-bit frames of ``frame_size`` samples at
    48 kHz with ``channels`` channels (the last frame shorter), each with the time (seconds,
    on the container's clock) of the stream's first decoded sample, or None while no decoded
    frame had a time. An audio stream FFmpeg cannot decode is an InputError that names it."""
    resampler = av.AudioResampler(format="s16", layout=layout(channels), rate=RATE,
                                  frame_size=frame_size)
    with av.open(str(path), "r") as container:
        stream = container.streams.audio[index]
        name = _describe(stream)
        first, heard = None, 0.0  # the first sample's time; seconds of sound so far
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and frame.sample_rate:
                    time = float(frame.pts * frame.time_base)
                    if first is None:
                        first = time
                    gap = time - first - heard
                    if gap > GAP:  # a hole in the timestamps: silence keeps what follows in sync
                        silence = _silence(frame, round(gap * frame.sample_rate))
                        heard += silence.samples / frame.sample_rate
                        for out in resampler.resample(silence):
                            yield first, out
                heard += frame.samples / (frame.sample_rate or RATE)
                frame.pts = None  # the resampler counts samples from here
                for out in resampler.resample(frame):
                    yield first, out
            for out in resampler.resample(None):
                yield first, out
        except (av.FFmpegError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise InputError(f"{path}: {name} cannot be decoded ({why}); --no-audio "
                             f"encodes the video without it") from None


def _silence(like: av.AudioFrame, samples: int) -> av.AudioFrame:
    """``samples`` of silence in the format, layout and rate of ``like``."""
    frame = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=samples)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = like.sample_rate
    return frame


class OpusMuxer:
    """An Opus stream of an open output container, fed packets already coded."""

    def __init__(self, container, channels: int, extradata: bytes) -> None:
        self.container = container
        self.stream = container.add_stream("libopus", rate=RATE, layout=layout(channels))
        self.stream.codec_context.extradata = extradata
        self.stream.time_base = Fraction(1, RATE)

    def mux(self, pts: int, duration: int, data: bytes) -> None:
        """One packet, ``pts`` and ``duration`` in 1/48000 s."""
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.duration = duration
        packet.time_base = Fraction(1, RATE)
        packet.stream = self.stream
        self.container.mux(packet)


def write_opus(path: str | Path, channels: int, extradata: bytes,
               packets: Iterator[tuple[int, int, bytes]]) -> None:
    """An Ogg Opus file of ``packets`` ((pts, duration, data), times in 1/48000 s)."""
    with av.open(str(path), "w", format="ogg") as container:
        muxer = OpusMuxer(container, channels, extradata)
        for pts, duration, data in packets:
            muxer.mux(pts, duration, data)

"""The sound of a live stream: PCM in as it comes, Opus AUDIO records out, each held until
the frames of its time are sent (so that a stream's records stay in time order)."""

from __future__ import annotations

from collections import deque

import av
import numpy as np

from .. import bitstream as bs
from ..audio import AudioSettings, _encoder
from ..io.audio import RATE

FRAME = 960  # samples of one 20 ms Opus frame at 48 kHz
# The sound goes out every 3 Opus packets (60 ms): an AUDIO record's framing is about 12 bytes.
AUDIO_PACKETS = 3


def _pre_skip(settings: AudioSettings, channels: int) -> int:
    """The Opus encoder's look-ahead: samples a decoder drops at the start (the first
    packet's negative time, from a frame of silence)."""
    probe = _encoder(settings, channels)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, FRAME * channels), np.int16), format="s16",
                                       layout="mono" if channels == 1 else "stereo")
    frame.sample_rate, frame.pts = RATE, 0
    packets = list(probe.encode(frame)) + list(probe.encode(None))
    first = packets[0].pts if packets else 0
    return -first if first is not None and first < 0 else 0


class LiveSound:
    """The sound's side: PCM in (with its time from the first frame), AUDIO records out,
    held (``held``) until the frames of their time are sent: ``due``."""

    def __init__(self, bitrate: int, channels: int) -> None:
        self.channels = channels
        chosen = AudioSettings(bitrate, self.channels)
        self.pre_skip = _pre_skip(chosen, self.channels)
        self.encoder = _encoder(chosen, self.channels)
        self.header = bs.AudioHeader(bs.OPUS, self.channels, RATE, self.pre_skip, 0, chosen.rate)
        self.pending = np.zeros((0, self.channels), np.int16)  # under one Opus frame
        self.fed = 0  # samples given to the encoder
        self.real = 0  # of them, the input's (not the last frame's padding)
        self.end = 0  # the last AUDIO record's granule position
        self.decoded = 0  # samples its packets decode to
        self.packets: list[bytes] = []
        self.held: deque[bs.AudioChunk] = deque()  # records coded, not yet due

    def push(self, pcm: np.ndarray, at: float) -> None:
        """``pcm``: (n, channels) int16 at 48 kHz, its first sample ``at`` seconds after the
        first frame, coded into held records. Sound before the first frame is dropped; a gap
        over an Opus frame is filled with silence, an overlap dropped, so that sample n stays
        at n / 48000 s."""
        pcm = np.asarray(pcm, dtype=np.int16).reshape(-1, self.channels)
        start = round(at * RATE)
        held = self.fed + len(self.pending)
        if start < held:
            pcm = pcm[held - start :]
        elif start - held > FRAME:
            silence = np.zeros((start - held, self.channels), np.int16)
            pcm = np.concatenate([silence, pcm])
        self.pending = np.concatenate([self.pending, pcm])
        while len(self.pending) >= FRAME:
            self.held.extend(self._code(self.pending[:FRAME]))
            self.pending = self.pending[FRAME:]

    def due(self, sent: float | None) -> list[bs.AudioChunk]:
        """The held records whose time the frames sent have reached (``sent``: samples of
        the frames sent; None: all of them, the frames never wait)."""
        due = []
        while self.held and (sent is None or self.held[0].end - self.held[0].samples
                             - self.pre_skip <= sent):
            due.append(self.held.popleft())
        return due

    def _code(self, pcm: np.ndarray | None, padded: bool = False) -> list[bs.AudioChunk]:
        if pcm is None:
            coded = list(self.encoder.encode(None))
        else:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.reshape(1, -1)),
                                               format="s16",
                                               layout="mono" if self.channels == 1 else "stereo")
            frame.sample_rate, frame.pts = RATE, self.fed
            self.fed += len(pcm)
            self.real += 0 if padded else len(pcm)
            coded = list(self.encoder.encode(frame))
        out = []
        for packet in coded:
            data = bytes(packet)
            self.packets.append(data)
            self.decoded += bs.opus_samples(data)
            if len(self.packets) == AUDIO_PACKETS:
                out += self._chunk()
        return out

    def _chunk(self) -> list[bs.AudioChunk]:
        """The packets so far as one AUDIO record, its granule the samples they decode to,
        less the padding of the last frame (a record of padding alone is dropped)."""
        end = min(self.decoded, self.pre_skip + self.real)
        packets, self.packets = self.packets, []
        if end <= self.end:
            return []
        self.end = end
        return [bs.AudioChunk(end, packets)]

    def close(self) -> list[bs.AudioChunk]:
        """The rest: the records held, the last samples padded to a frame, the encoder
        drained, the end trimmed."""
        out = list(self.held)
        self.held.clear()
        if len(self.pending):
            tail = np.zeros((FRAME, self.channels), np.int16)
            tail[: len(self.pending)] = self.pending
            self.real += len(self.pending)
            self.pending = self.pending[:0]
            out += self._code(tail, padded=True)
        out += self._code(None)
        if self.packets:
            out += self._chunk()
        return out

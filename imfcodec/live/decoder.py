"""LiveDecoder: a live stream's packets in, frames and sound out as soon as they can be shown.

Each packet (a stream's start, or one record) is checked as a file's records are: framing,
CRC (which covers the stream id: a record of another stream fails it), version and order. A
bad packet is refused with a message and changes nothing; after one, the frames that depend
on what was lost cannot be shown, so the decoder waits for the next intra key frame (and
says it wants one: ``wants_key``) and shows nothing in between, never a garbled picture.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .. import bitstream as bs
from ..audio import SoundClock
from ..bitstream.container import RecordChecker, record_type
from ..bitstream.packets import PacketReader, Start
from ..bitstream.records import RecordType
from ..decoder import RecordDecoder, check_model, model_for_header
from ..entropy import quantize as quant
from ..errors import FormatError, IMFError
from ..intra import PREDICTED_HEVC


@dataclass
class Shown:
    """What a packet gave: frames (index in their stream, picture), the sound's packets
    (pts, duration, data; 1/48000 s from the stream's first frame), and events."""

    frames: list[tuple[int, np.ndarray]] = field(default_factory=list)
    sound: list[tuple[int, int, bytes]] = field(default_factory=list)
    header: bs.Header | None = None  # a new stream's header (a new stream began)
    audio_header: bs.AudioHeader | None = None
    ended: bool = False  # the END record came
    lost: list[int] = field(default_factory=list)  # frames skipped to resynchronise

    def extend(self, more: "Shown") -> None:
        """What a later record of the same bytes gave, after this."""
        self.frames += more.frames
        self.sound += more.sound
        self.lost += more.lost
        self.header = more.header or self.header
        self.audio_header = more.audio_header or self.audio_header
        self.ended = self.ended or more.ended


class LiveDecoder:
    """Decodes live streams one after another (a sender that reconnects starts a new one)."""

    def __init__(self, codec) -> None:
        self.codec = codec
        self.reader = PacketReader()
        self.start: Start | None = None
        self.checker: RecordChecker | None = None
        self.header: bs.Header | None = None
        self.model = None
        self.records: RecordDecoder | None = None
        # the last key frames read, prepared for the model (a token record names which of
        # them its frames are rebuilt from, and which it blends in: version 5.0 and 6.0)
        self.references: deque = deque(maxlen=bs.MAX_REFERENCES)
        self.last: tuple | None = None  # the last token frame: what rebuilt it, and its picture
        # a key frame sent ahead of its run's leading frames (a stream with a look-ahead):
        # (its index, its picture), shown once they are
        self.held: tuple[int, np.ndarray] | None = None
        self.grid = None
        self.waiting = True  # for an intra key frame (at a stream's start, or after a loss)
        self.asking = False  # waiting after a loss
        self.audio: bs.AudioHeader | None = None
        self.clock: SoundClock | None = None  # times the sound's packets
        self.sound_lost = False  # an AUDIO record may have been lost since the last one
        self.shown = 0  # frames shown in this stream (its next index)
        self.refused = 0  # packets refused
        self.bytes_video = self.bytes_audio = 0  # of the packets taken (starts count as video)

    @property
    def wants_key(self) -> bool:
        """Whether it lost records and waits for an intra key frame (the sender should be
        asked for one; a stream's start brings its own)."""
        return self.header is not None and self.waiting and self.asking

    def packet(self, data: bytes, render: bool = True) -> Shown:
        """One whole packet (a WebSocket message). FormatError for a bad one (counted).
        ``render``: False to skip the network for its token frames (a receiver that has
        fallen behind): they come out as (index, None)."""
        try:
            item = self.reader.packet(data)
        except FormatError:
            self.refused += 1
            self._lose()
            raise
        return self._take(item, render)

    def feed(self, data: bytes, render: bool = True) -> tuple[Shown, list[str]]:
        """Bytes of a byte stream (a TCP connection's): what they completed, and the messages
        of the bad records among them (each refused and skipped)."""
        shown, errors = Shown(), []
        self.reader.feed(data)
        while True:
            try:
                item = self.reader.read()
            except FormatError as exc:
                self.refused += 1
                self._lose()
                errors.append(str(exc))
                continue
            if item is None:
                return shown, errors
            try:
                shown.extend(self._take(item, render))
            except FormatError as exc:
                errors.append(str(exc))

    def _lose(self) -> None:
        """A record was lost: nothing that may depend on it is shown before an intra key
        frame; the sound goes on from the next AUDIO record's own start."""
        self.waiting = self.asking = True
        self.references.clear()
        self.last = self.held = None
        self.sound_lost = True
        if self.checker is not None:
            self.checker.sound.resync()

    def _take(self, item, render: bool = True) -> Shown:
        shown = Shown()
        size = self.reader.size
        if isinstance(item, Start):
            self.start, self.checker = item, RecordChecker(item.version, item.stream_id)
            self.header = self.records = self.audio = self.last = self.held = None
            self.references.clear()
            self.waiting, self.asking, self.shown, self.clock = True, False, 0, None
            self.bytes_video += size
            return shown
        if self.checker is None:
            self.refused += 1
            raise FormatError("bad packet: a record before any stream's start")
        kind = record_type(item)
        if self.waiting and kind in (RecordType.KEYFRAME, RecordType.TOKENS) \
                and self.header is not None:
            if kind is not RecordType.KEYFRAME or item.codec == PREDICTED_HEVC:
                return shown  # depends on what was lost: skipped until the next intra key frame
            if self.asking:  # (a stream's first key frame may be sent ahead of its run)
                self.checker.order.resync(item.frame_index)
        elif kind is RecordType.KEYFRAME and item.reason is bs.KeyReason.REQUEST \
                and item.codec != PREDICTED_HEVC and self.header is not None \
                and item.frame_index > self.checker.order.seen:
            # a key frame asked for (never sent ahead) past frames not received: the records
            # between were dropped on the way (a slow link's queue): take the stream up here
            self.checker.order.resync(item.frame_index)
            self.held = None
        try:
            self.checker.check(kind, item)
        except FormatError as exc:
            self.refused += 1
            self._lose()
            raise FormatError(f"bad packet: {exc}") from None
        if kind in (RecordType.AUDIO, RecordType.AUDIO_HEADER):
            self.bytes_audio += size
        else:
            self.bytes_video += size
        try:
            return self._decode(kind, item, shown, render)
        except (FormatError, IMFError) as exc:
            self.refused += 1
            self._lose()
            raise FormatError(f"bad packet: {exc}") from None

    def _decode(self, kind: RecordType, item, shown: Shown, render: bool) -> Shown:
        if kind is RecordType.HEADER:
            model = self.codec.model_for(item)
            check_model(item, model)
            self.header, self.model = item, model_for_header(item, model)
            self.records = RecordDecoder(item, self.model)
            self.grid = self.model.grid(item.token_step)
            shown.header = item
        elif kind is RecordType.AUDIO_HEADER:
            self.audio = shown.audio_header = item
            self.clock = SoundClock(item)
        elif kind is RecordType.AUDIO:
            shown.sound += self.clock.packets(item, resync=self.sound_lost)
            self.sound_lost = False  # (as order.AudioOrder.resync takes it up)
        elif kind is RecordType.KEYFRAME:
            rgb = self.records.key_frame(item)
            self.references.append(self.model.reference(rgb))
            self.last = None
            self.waiting = self.asking = False
            if self.checker.order.ahead == item.frame_index:  # ahead of its leading frames
                self.held = (item.frame_index, rgb)
                return shown
            if item.frame_index > self.shown:
                shown.lost += list(range(self.shown, item.frame_index))
            self.shown = item.frame_index + 1
            shown.frames.append((item.frame_index, rgb))
        elif kind is RecordType.TOKENS:
            levels, shares = self.records.tokens(item)
            if not render:
                shown.frames += [(self.shown + i, None) for i in range(len(levels))]
                self.shown += len(levels)
                self.last = None
                return self._held_shown(shown)
            reference = self.references[-1 - item.reference]
            partner = None if item.partner is None else self.references[-1 - item.partner]
            for i, row in enumerate(levels):
                share = 0 if shares is None else int(shares[i])
                source = (item.reference, item.partner, share)  # what rebuilds the frame
                if self.last is not None and self.last[1] == source and \
                        np.array_equal(row, self.last[0]):
                    picture = self.last[2]  # a repeated token: the same picture, no network
                else:
                    token = quant.dequantize(row[None], self.grid)
                    pictures = self.model.synthesise(reference, token) if partner is None else \
                        self.model.synthesise_blend(reference, partner, token, shares[i : i + 1])
                    picture = next(iter(pictures))
                self.last = (row, source, picture)
                shown.frames.append((self.shown, picture))
                self.shown += 1
            self._held_shown(shown)
        elif kind is RecordType.END:
            shown.ended = True
            self.checker = None
        return shown

    def _held_shown(self, shown: Shown) -> Shown:
        """The key frame held ahead of its leading frames, once they are all shown."""
        if self.held is not None and self.held[0] == self.shown:
            shown.frames.append(self.held)
            self.shown += 1
            self.held = None
        return shown

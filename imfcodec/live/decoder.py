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


@dataclass
class Counts:
    """What a decoder took: packets refused, and bytes of video and of sound (starts count
    as video)."""

    refused: int = 0
    bytes_video: int = 0
    bytes_audio: int = 0


class Pictures:
    """The picture side of a stream: its header and model, the key frames held (a token
    record names which of them its frames are rebuilt from, and which it blends in: version
    5.0 and 6.0), and the frames rebuilt from them in order (``shown``: the next index)."""

    def __init__(self) -> None:
        self.header: bs.Header | None = None
        self.model = None
        self.records: RecordDecoder | None = None
        self.grid = None
        # the last key frames read, prepared for the model
        self.references: deque = deque(maxlen=bs.MAX_REFERENCES)
        self.last: tuple | None = None  # the last token frame: what rebuilt it, and its picture
        # a key frame sent ahead of its run's leading frames (a stream with a look-ahead):
        # (its index, its picture), shown once they are
        self.held: tuple[int, np.ndarray] | None = None
        self.shown = 0  # frames shown in this stream (its next index)

    def begin(self) -> None:
        """A new stream: nothing of the last one is kept."""
        self.header = self.records = self.last = self.held = None
        self.references.clear()
        self.shown = 0

    def lose(self) -> None:
        """Records were lost: nothing held may be built on."""
        self.references.clear()
        self.last = self.held = None

    def set_header(self, item: bs.Header, codec) -> None:
        model = codec.model_for(item)
        check_model(item, model)
        self.header, self.model = item, model_for_header(item, model)
        self.records = RecordDecoder(item, self.model)
        self.grid = self.model.grid(item.token_step)

    def key_frame(self, item, ahead: bool, shown: "Shown") -> None:
        """A key frame: held, and shown unless it is ``ahead`` of its leading frames."""
        rgb = self.records.key_frame(item)
        self.references.append(self.model.reference(rgb))
        self.last = None
        if ahead:
            self.held = (item.frame_index, rgb)
            return
        if item.frame_index > self.shown:
            shown.lost += list(range(self.shown, item.frame_index))
        self.shown = item.frame_index + 1
        shown.frames.append((item.frame_index, rgb))

    def tokens(self, item, shown: "Shown", render: bool) -> None:
        """A token record's frames, rebuilt (``render`` False: as (index, None))."""
        levels, shares = self.records.tokens(item)
        if not render:
            shown.frames += [(self.shown + i, None) for i in range(len(levels))]
            self.shown += len(levels)
            self.last = None
            self._held_shown(shown)
            return
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

    def _held_shown(self, shown: "Shown") -> None:
        """The key frame held ahead of its leading frames, once they are all shown."""
        if self.held is not None and self.held[0] == self.shown:
            shown.frames.append(self.held)
            self.shown += 1
            self.held = None


class Listening:
    """The sound side of a stream: its header, the clock that times its packets, and
    whether an AUDIO record may have been lost since the last one."""

    def __init__(self) -> None:
        self.header: bs.AudioHeader | None = None
        self.clock: SoundClock | None = None
        self.lost = False

    def begin(self) -> None:
        self.header = self.clock = None

    def set_header(self, item: bs.AudioHeader) -> None:
        self.header, self.clock = item, SoundClock(item)

    def packets(self, item: bs.AudioChunk) -> list[tuple[int, int, bytes]]:
        out = self.clock.packets(item, resync=self.lost)
        self.lost = False  # (as order.AudioOrder.resync takes it up)
        return out


class LiveDecoder:
    """Decodes live streams one after another (a sender that reconnects starts a new one)."""

    def __init__(self, codec) -> None:
        self.codec = codec
        self.reader = PacketReader()
        self.start: Start | None = None
        self.checker: RecordChecker | None = None
        self.pictures = Pictures()
        self.sound = Listening()
        self.counts = Counts()
        self.waiting = True  # for an intra key frame (at a stream's start, or after a loss)
        self.asking = False  # waiting after a loss

    @property
    def header(self) -> bs.Header | None:
        return self.pictures.header

    @property
    def audio(self) -> bs.AudioHeader | None:
        return self.sound.header

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
            self.counts.refused += 1
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
                self.counts.refused += 1
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
        self.pictures.lose()
        self.sound.lost = True
        if self.checker is not None:
            self.checker.sound.resync()

    def _take(self, item, render: bool = True) -> Shown:
        size = self.reader.size
        if isinstance(item, Start):
            self.start, self.checker = item, RecordChecker(item.version, item.stream_id)
            self.pictures.begin()
            self.sound.begin()
            self.waiting, self.asking = True, False
            self.counts.bytes_video += size
            return Shown()
        if self.checker is None:
            self.counts.refused += 1
            raise FormatError("bad packet: a record before any stream's start")
        kind = record_type(item)
        if not self._follows(kind, item):
            return Shown()  # depends on what was lost: skipped until the next intra key frame
        try:
            self.checker.check(kind, item)
        except FormatError as exc:
            self.counts.refused += 1
            self._lose()
            raise FormatError(f"bad packet: {exc}") from None
        if kind in (RecordType.AUDIO, RecordType.AUDIO_HEADER):
            self.counts.bytes_audio += size
        else:
            self.counts.bytes_video += size
        try:
            return self._decode(kind, item, Shown(), render)
        except (FormatError, IMFError) as exc:
            self.counts.refused += 1
            self._lose()
            raise FormatError(f"bad packet: {exc}") from None

    def _follows(self, kind: RecordType, item) -> bool:
        """Whether a record can be taken where the stream stands (False: it depends on what
        was lost); where it takes the stream up again, the checker is moved on to it."""
        if self.waiting and kind in (RecordType.KEYFRAME, RecordType.TOKENS) \
                and self.header is not None:
            if kind is not RecordType.KEYFRAME or item.codec == PREDICTED_HEVC:
                return False
            if self.asking:  # (a stream's first key frame may be sent ahead of its run)
                self.checker.order.resync(item.frame_index)
        elif kind is RecordType.KEYFRAME and item.reason is bs.KeyReason.REQUEST \
                and item.codec != PREDICTED_HEVC and self.header is not None \
                and item.frame_index > self.checker.order.seen:
            # a key frame asked for (never sent ahead) past frames not received: the records
            # between were dropped on the way (a slow link's queue): take the stream up here
            self.checker.order.resync(item.frame_index)
            self.pictures.held = None
        return True

    def _decode(self, kind: RecordType, item, shown: Shown, render: bool) -> Shown:
        if kind is RecordType.HEADER:
            self.pictures.set_header(item, self.codec)
            shown.header = item
        elif kind is RecordType.AUDIO_HEADER:
            self.sound.set_header(item)
            shown.audio_header = item
        elif kind is RecordType.AUDIO:
            shown.sound += self.sound.packets(item)
        elif kind is RecordType.KEYFRAME:
            self.waiting = self.asking = False
            ahead = self.checker.order.ahead == item.frame_index  # ahead of its leading frames
            self.pictures.key_frame(item, ahead, shown)
        elif kind is RecordType.TOKENS:
            self.pictures.tokens(item, shown, render)
        elif kind is RecordType.END:
            shown.ended = True
            self.checker = None
        return shown

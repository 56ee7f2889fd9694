"""`imfcodec send SOURCE DEST`: a source played in real time (capture.py), coded as it comes
(LiveEncoder) and sent to a receiver (transport.py), or written to a file.

Each connection carries a stream of its own: when the receiver joins (or joins again) the
sender starts a new stream, header and intra key frame first. When the connection drops the
sender says so and, by ``on_drop``, waits for the receiver (a file source pauses) or carries
on (frames go by unsent) while it tries again every second. A link too slow for the stream
drops what waits in its queue and the next frame is an intra key frame. A sender slower than
its source (a file played at its own rate on a busy CPU) sends a frame read more than 1.5
frame times late as the frame before it again (a repeated token: no analysis here, no network
at the receiver), and so catches up. Ctrl-C ends the stream with its END record: what was
sent is complete up to the last frame.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import InputError
from ..io.atomic import atomic_path
from .capture import Capture
from .encoder import LiveEncoder, LiveSettings, live_plan
from .transport import Address, Link, connect, parse_address

RETRY = 1.0  # seconds between attempts to reach the receiver
# A frame read this many frame times past its time is sent as the one before it again
# (LiveEncoder.repeat: no analysis), so that a sender slower than the source catches up.
LATE = 1.5
ON_DROP = ("wait", "continue")
Say = Callable[[str], None]


@dataclass
class SendReport:
    frames: int = 0  # read from the source
    sent: int = 0  # coded into a stream
    key_frames: int = 0
    streams: int = 0
    bytes_video: int = 0
    bytes_audio: int = 0
    dropped_packets: int = 0  # for a slow link
    repeated: int = 0  # frames sent as the one before (the sender was behind real time)
    seconds: float = 0.0  # of video coded
    interrupted: bool = False
    width: int = 0  # the picture coded (0: no frame read)
    height: int = 0
    picture_notes: tuple[str, ...] = ()  # how it was fitted (scaled down, a square), as encode's

    @property
    def kbps(self) -> float:
        return (self.bytes_video + self.bytes_audio) * 8 / 1000 / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {"frames": self.frames, "sent": self.sent, "key_frames": self.key_frames,
                "streams": self.streams, "bytes_video": self.bytes_video,
                "bytes_audio": self.bytes_audio, "dropped_packets": self.dropped_packets,
                "repeated": self.repeated,
                "seconds": round(self.seconds, 3), "kbps": round(self.kbps, 3),
                "video_kbps": round(self.bytes_video * 8 / 1000 / self.seconds, 3) if self.seconds else 0.0,
                "audio_kbps": round(self.bytes_audio * 8 / 1000 / self.seconds, 3) if self.seconds else 0.0,
                "interrupted": self.interrupted, "width": self.width, "height": self.height,
                "picture_notes": list(self.picture_notes)}


class _Stream:
    """One stream on one connection (or into the file): its encoder and where packets go."""

    def __init__(self, encoder: LiveEncoder, put: Callable[[bytes], bool], first: float) -> None:
        self.encoder, self.put, self.first = encoder, put, first
        self.slow = False

    def send(self, packets: list[bytes]) -> None:
        for packet in packets:
            if not self.put(packet):
                self.encoder.request_key()  # what waited was dropped: start again from a key
                self.slow = True


@dataclass(frozen=True)
class Destination:
    """Where a stream goes: ``dest`` as given, its receiver's ``address`` (None: a file,
    replaced only with ``force``), and what to do when the connection drops (ON_DROP)."""

    dest: str
    address: Address | None
    force: bool
    on_drop: str


@dataclass
class _Connection:
    """The connection to the receiver: the link (None: none now), when it was last tried,
    and whether the sender has said that it waits."""

    link: Link | None = None
    last_try: float = 0.0
    waiting: bool = False


class Sender:
    """A source played into a destination: a stream on each connection (or into the file)."""

    def __init__(self, codec, source: str, dest: str, settings: LiveSettings, *,
                 loop: bool = False, input_format: str | None = None, on_drop: str = "wait",
                 sound: bool = True, seconds: float | None = None, force: bool = False,
                 say: Say = print, log: str | None = None) -> None:
        if on_drop not in ON_DROP:
            raise InputError(f"--on-drop must be one of {', '.join(ON_DROP)}")
        self.codec, self.settings, self.say = codec, settings, say
        self.to = Destination(dest, parse_address(dest), force, on_drop)
        self.limit = seconds
        self.capture = Capture(source, lambda size: live_plan(codec.model, size, settings),
                               settings.fit, settings.audio_channels, sound, loop, input_format)
        self.report = SendReport()
        self.conn = _Connection()
        self.stream: _Stream | None = None
        self.stop = False  # Ctrl-C: the stream ends after the frame being coded
        self.log = open(log, "w", buffering=1) if log else None  # (line by line: a log one can follow)

    def _encoder(self) -> LiveEncoder:
        return LiveEncoder(self.codec, self.capture.fps, self.settings, self.capture.size,
                           sound=self.capture.has_audio)

    def _begin(self, put: Callable[[bytes], bool], t: float) -> None:
        if not self.report.width:  # the first stream: what is coded, said once
            layout = self.capture.planned.layout
            self.report.width, self.report.height = layout.width, layout.height
            self.report.picture_notes = self.capture.planned.notes
            for note in self.capture.planned.notes:
                self.say(note)
        self.stream = _Stream(self._encoder(), put, t)
        self.stream.send(self.stream.encoder.start())
        self.report.streams += 1

    def _end(self) -> None:
        if self.stream is None:
            return
        encoder = self.stream.encoder
        self.stream.send(encoder.close())
        self.report.bytes_video += encoder.outbox.bytes_video
        self.report.bytes_audio += encoder.outbox.bytes_audio
        self.report.key_frames += encoder.key_frames
        self.stream = None

    def _connect(self, t: float, block: bool) -> bool:
        """A connection and a new stream on it: at once, or (``block``) once the receiver answers."""
        while True:
            if self.stop:
                raise KeyboardInterrupt
            now = time.monotonic()
            if now - self.conn.last_try >= RETRY:
                self.conn.last_try = now
                try:
                    self.conn.link = connect(self.to.address)
                except Exception as exc:  # refused, unreachable, a handshake that failed
                    if not self.conn.waiting:
                        self.say(f"waiting for the receiver at {self.to.dest} ({_first_line(exc)})")
                        self.conn.waiting = True
                else:
                    self.conn.waiting = False
                    self.say(f"connected to {self.to.dest}")
                    self._begin(self.conn.link.send, t)
                    return True
            if not block:
                return False
            time.sleep(max(0.0, self.conn.last_try + RETRY - time.monotonic()))

    def _lost(self) -> None:
        self.say(f"the connection to {self.to.dest} dropped ({self.conn.link.error or 'closed'}); "
                 + ("waiting for the receiver" if self.to.on_drop == "wait" else "carrying on"))
        self.report.dropped_packets += self.conn.link.dropped
        self._end()
        self.conn.link = None

    def run(self) -> SendReport:
        with _stopping(self):
            try:
                if self.to.address is None:
                    self._to_file()
                else:
                    self._to_link()
            finally:
                self.capture.close()
                if self.log is not None:
                    self.log.close()
        return self.report

    def _to_file(self) -> None:
        with atomic_path(self.to.dest, self.to.force, through=True) as tmp:
            with open(tmp, "wb") as f:
                def put(packet: bytes) -> bool:
                    f.write(packet)
                    return True

                def ready(t: float) -> bool:
                    if self.stream is None:
                        self._begin(put, t)
                    return True

                try:
                    self._play(ready)
                except KeyboardInterrupt:
                    self.report.interrupted = True
                self._end()
            if self.report.sent == 0:  # (raised inside: nothing is put in place)
                raise InputError(f"{self.to.dest}: no frames were coded")

    def _to_link(self) -> None:
        def ready(t: float) -> bool:
            if self.conn.link is not None and not self.conn.link.alive:
                self._lost()
            if self.conn.link is None:
                paused = time.monotonic()
                if not self._connect(t, block=self.to.on_drop == "wait"):
                    return False
                if time.monotonic() - paused > 0.5:
                    self.capture.resume()
            if self.conn.link.requests():
                self.stream.encoder.request_key()
            return True

        try:
            self._play(ready)
        except KeyboardInterrupt:
            self.report.interrupted = True
        if self.conn.link is not None:
            self._end()
            self.conn.link.close()
            self.report.dropped_packets += self.conn.link.dropped

    def _play(self, ready: Callable[[float], bool]) -> None:
        """Frames and sound as they are due, into the current stream (``ready(t)``: whether
        there is one, making one where it can)."""
        for kind, t, data in self.capture:
            if self.stop:
                raise KeyboardInterrupt
            if self.limit is not None and t >= self.limit:
                break
            if kind == "video":
                self.report.frames += 1
                read = time.time()
                if not ready(t):
                    continue
                stream = self.stream
                index = stream.encoder.count
                if self.conn.link is not None and index % max(1, round(float(self.capture.fps))) == 0:
                    self.conn.link.send_time(index, read)  # ahead of the frame, for the page's latency
                if self.capture.late > LATE / float(self.capture.fps) and stream.encoder.repeatable:
                    packets = stream.encoder.repeat()  # behind real time: catch up
                    self.report.repeated += 1
                else:
                    packets = stream.encoder.frame(data)
                stream.send(packets)
                if stream.slow:
                    self.say("the link is too slow: frames dropped, a key frame follows")
                    stream.slow = False
                self.report.sent += 1
                self.report.seconds += 1 / float(self.capture.fps)
                if self.log is not None:
                    self.log.write(json.dumps({"stream": stream.encoder.stream_id, "frame": index,
                                               "read": read, "bytes": sum(map(len, packets))}) + "\n")
            elif self.stream is not None:
                self.stream.send(self.stream.encoder.audio(data, t - self.stream.first))


@contextlib.contextmanager
def _stopping(sender: Sender):
    """Ctrl-C (SIGINT) ends the stream between two frames, never inside one (a frame half
    coded would leave the END record counting frames the receiver never got): the first sets
    ``sender.stop``; a second, while the stream is being closed, interrupts at once. Where
    SIGINT is ignored (a background job of a shell without job control), it stays so."""
    def handler(signum, frame):
        if sender.stop:
            raise KeyboardInterrupt
        sender.stop = True

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        yield
        return
    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: Ctrl-C is the caller's
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def send(codec, source: str, dest: str, settings: LiveSettings = LiveSettings(), **options) -> SendReport:
    """Plays ``source`` into ``dest`` (Sender's options) until it ends or Ctrl-C."""
    return Sender(codec, source, dest, settings, **options).run()

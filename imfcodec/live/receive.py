"""`imfcodec receive LISTEN OUT`: a live stream in from `send`, decoded as it arrives, written
to OUT (.mkv, .mp4, .y4m, or - for .y4m on standard output) frame by frame, and shown in the
browser (view.py) at http://HOST:PORT/ of a ws:// address (``view_port`` beside a tcp:// one).

One sender at a time: a sender that connects (again) starts a new stream, which the output
continues. Connections hand packets to one decoding thread through a queue; when it falls
behind by more than half a second it stops running the network for token frames (their
tokens are still read) and writes the last picture again in their place, so a slow receiver
drops frames instead of growing memory. A bad packet is refused with a message, and the
sender is asked for a key frame. The output is written to a temporary file and put in place
when the call ends (the sender's END, or Ctrl-C): complete up to the last frame.
"""

from __future__ import annotations

import collections
import json
import queue
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from .. import bitstream as bs
from ..audio import extradata
from ..errors import FormatError, InputError, OutputError
from ..io.atomic import atomic_path
from ..io.audio import RATE
from ..io.writer import WITH_SOUND, FrameWriter, output_kind
from .decoder import LiveDecoder
from .transport import KEY_REQUEST, TCP_KEY, Address, parse_address
from .view import PAGE, Board

BEHIND = 0.5  # seconds of packets waiting before token frames are no longer rendered
KEY_EVERY = 0.5  # seconds at least between two key requests
RATE_WINDOW = 2.0  # seconds the page's kbps are measured over
INBOX = 1000  # packets waiting for the decoding thread at most (some 20 s of a call's)
Say = Callable[[str], None]


@dataclass
class ReceiveReport:
    output: str
    frames: int = 0  # written
    streams: int = 0
    dropped: int = 0  # written again in place of a frame not rendered (behind)
    lost: int = 0  # frames of a stream never received whole (skipped to a key frame)
    refused: int = 0  # packets
    bytes_video: int = 0
    bytes_audio: int = 0
    seconds: float = 0.0  # from the first frame to the end
    sound: bool = False
    interrupted: bool = False
    latency_ms: list = field(default_factory=list, repr=False)

    @property
    def kbps(self) -> float:
        return (self.bytes_video + self.bytes_audio) * 8 / 1000 / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        lat = np.array(self.latency_ms) if self.latency_ms else None
        return {"output": self.output, "frames": self.frames, "streams": self.streams,
                "dropped": self.dropped, "lost": self.lost, "refused": self.refused,
                "bytes_video": self.bytes_video, "bytes_audio": self.bytes_audio,
                "seconds": round(self.seconds, 3), "kbps": round(self.kbps, 3),
                "sound": self.sound, "interrupted": self.interrupted,
                "latency_ms_median": None if lat is None else round(float(np.median(lat)), 1),
                "latency_ms_p95": None if lat is None else round(float(np.percentile(lat, 95)), 1)}


class _Sender:
    """A sender's connection as the decoding thread sees it: how to ask it for a key frame."""

    def __init__(self, ask: Callable[[], None], name: str) -> None:
        self.ask, self.name = ask, name


class _Output:
    """The output file, opened at the first frame (its size, rate and sound known by then)."""

    def __init__(self, target: str, force: bool, sound: bool) -> None:
        self.target, self.force, self.want_sound = target, force, sound
        self.to_stdout = target == "-"
        self.kind = ".y4m" if self.to_stdout else output_kind(target)
        if not self.to_stdout and self.kind == "png":
            raise OutputError(f"{target}: receive writes .mkv, .mp4, .y4m or - (.y4m on "
                              f"standard output)")
        self._place = None if self.to_stdout else atomic_path(target, force)
        self.path = None if self.to_stdout else self._place.__enter__()
        self.writer: FrameWriter | None = None
        self.shape: tuple | None = None
        self.sound = False
        self.stream_start = 0  # frames written before the current stream began
        self.last: np.ndarray | None = None

    def begin(self, header: bs.Header, audio: bs.AudioHeader | None, say: Say) -> bool:
        """A new stream: False (said) when it cannot continue this output."""
        shape = (header.width, header.height, header.fps)
        if self.writer is None:
            sound = None
            if audio is not None and self.want_sound:
                if self.kind in WITH_SOUND:
                    sound = (audio.channels, extradata(audio))
                else:
                    say(f"the sound is not written: {self.kind} carries no sound (use .mkv)")
            target = sys.stdout.buffer if self.to_stdout else self.path
            self.writer = FrameWriter(target, self.kind, header.fps, (header.width, header.height),
                                      audio=sound)
            self.shape, self.sound = shape, sound is not None
        elif shape != self.shape:
            say(f"a new stream at {header.width}x{header.height}, {float(header.fps):g} fps "
                f"cannot continue this output; ignored")
            return False
        self.stream_start = self.writer.count
        return True

    def frame(self, picture: np.ndarray | None) -> bool:
        """Writes a frame (None: the last one again); False when there is none to write yet."""
        picture = self.last if picture is None else picture
        if picture is None:
            return False
        self.writer.write(picture)
        self.last = picture
        return True

    def audio(self, fps: Fraction, pts: int, duration: int, data: bytes) -> None:
        if not self.sound:
            return
        pts += round(self.stream_start * RATE / fps)
        if pts < 0:  # the encoder's look-ahead before the first frame: the output starts at 0
            return
        self.writer.write_audio(pts, duration, data)

    def finish(self, ok: bool) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._place is not None:
            if ok and self.writer is not None:
                self._place.__exit__(None, None, None)
            else:
                error = OutputError("nothing received")
                try:
                    self._place.__exit__(type(error), error, None)
                except OutputError:
                    pass


class _Meter:
    """What the page and the report measure as frames are shown: the rate over the last
    RATE_WINDOW seconds, each frame's latency from the sender's time marks, and the log (JSON
    lines, one a frame)."""

    def __init__(self, log: str | None) -> None:
        self.marks: dict[int, float] = {}  # frame -> when the sender read it (its time marks)
        self.recent: collections.deque = collections.deque()  # (time, video bytes, audio bytes)
        self.first_frame: float | None = None
        self.log = open(log, "w", buffering=1) if log else None  # (line by line: a log one can follow)

    def mark(self, frame: int, at: float) -> None:
        self.marks[frame] = at
        if len(self.marks) > 64:
            self.marks.pop(next(iter(self.marks)))

    def took(self, now: float, video: int, audio: int) -> None:
        self.recent.append((now, video, audio))

    def shown(self, report: ReceiveReport, stream_id: int, index: int, now: float,
              rendered: bool) -> None:
        if self.first_frame is None:
            self.first_frame = now
        if self.log is not None:
            self.log.write(json.dumps({"stream": stream_id, "frame": index, "shown": now,
                                       "rendered": rendered}) + "\n")
        if index in self.marks:
            report.latency_ms.append((now - self.marks.pop(index)) * 1000)

    def kbps(self, now: float) -> tuple[float, float]:
        """(video, sound) kbps over the last RATE_WINDOW seconds."""
        while self.recent and self.recent[0][0] < now - RATE_WINDOW:
            self.recent.popleft()
        span = max(1e-3, min(RATE_WINDOW, now - (self.first_frame or now))) if self.recent else 1.0
        return (sum(v for _, v, _ in self.recent) * 8 / 1000 / span,
                sum(a for _, _, a in self.recent) * 8 / 1000 / span)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


class _Screen:
    """What the frames decoded go to: the output file, the page (``board``) and the report."""

    def __init__(self, output: _Output, report: ReceiveReport, meter: _Meter, say: Say) -> None:
        self.output, self.report, self.meter, self.say = output, report, meter, say
        self.board = Board()
        self.fps = Fraction(25)
        self.streaming = False  # frames of this stream go to the output

    def show(self, shown, now: float, decoder: LiveDecoder) -> bool:
        """What a packet gave, written and shown; True when its stream ended."""
        if shown.header is not None:  # a new stream (a sender that connected again)
            self.report.streams += 1
            self.fps = shown.header.fps
            self.meter.marks.clear()
            self.streaming = False  # it continues the output from its first frame
        if shown.frames and decoder.header is not None and not self.streaming:
            self.streaming = self.output.begin(decoder.header, decoder.audio, self.say)
        if not self.streaming:
            return False
        self.report.lost += len(shown.lost)
        rendered = []  # (place in the output, picture), for the page
        for index, picture in shown.frames:
            if picture is None:
                self.report.dropped += 1
            if self.output.frame(picture):
                self.report.frames += 1
                if picture is not None:
                    rendered.append((self.report.frames, picture))
            self.meter.shown(self.report, decoder.start.stream_id, index, now, picture is not None)
        for pts, duration, data in shown.sound:
            self.output.audio(self.fps, pts, duration, data)
        if shown.ended:
            self.streaming = False
            self.say(f"the stream ended ({self.report.frames} frames)")
        self.post(now, decoder.counts.refused)
        self.board.play(rendered, 1 / float(self.fps))
        return shown.ended

    def post(self, now: float, refused: int) -> None:
        video, audio = self.meter.kbps(now)
        latency = self.report.latency_ms[-1] if self.report.latency_ms else None
        self.board.post(frames=self.report.frames, kbps=video + audio, video_kbps=video,
                        audio_kbps=audio, latency_ms=latency, dropped=self.report.dropped,
                        refused=refused)


class Receiver:
    """The decoding thread: the packets of the connections in (``arrive``), decoded, and
    what they give to the screen (_Screen)."""

    def __init__(self, codec, output: str, force: bool = False, sound: bool = True,
                 stay: bool = False, say: Say = print, log: str | None = None) -> None:
        self.decoder = LiveDecoder(codec)
        self.screen = _Screen(_Output(output, force, sound), ReceiveReport(output), _Meter(log), say)
        # (bounded: a decoding thread that cannot even read the tokens in time holds the
        # connection back, and the sender's own bounded queue then drops; see transport.py)
        self.inbox: queue.Queue = queue.Queue(INBOX)
        self.say, self.stay = say, stay
        self.sender: _Sender | None = None
        self.last_ask = 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def board(self) -> Board:
        return self.screen.board

    # -- called from connection threads --
    def arrive(self, sender: _Sender, kind: str, data=None) -> None:
        self.inbox.put((sender, kind, data))

    # -- the decoding thread --
    def _run(self) -> None:
        while not self.done.is_set():
            try:
                sender, kind, data = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._handle(sender, kind, data)
            except Exception as exc:  # one bad event must not end the call
                self.say(f"receive: {type(exc).__name__}: {exc}")

    def _handle(self, sender: _Sender, kind: str, data) -> None:
        if kind == "open":
            if self.sender is not None:
                self.say(f"a sender connected from {sender.name}; the one before is dropped")
            else:
                self.say(f"a sender connected from {sender.name}")
            self.sender = sender
            self.board.post(state="receiving")
            return
        if sender is not self.sender:
            return  # an old connection's last packets
        if kind == "closed":
            self.say(f"the sender disconnected ({data})" if data else "the sender disconnected")
            self.sender = None
            self.board.post(state="sender disconnected")
            return
        if kind == "time":
            self.screen.meter.mark(data["frame"], data["time"])
            return
        self._decode(sender, kind, data)

    def _decode(self, sender: _Sender, kind: str, data) -> None:
        """A packet (or a TCP connection's bytes): decoded, shown, a key frame asked for
        where records were lost."""
        render = self.inbox.qsize() < BEHIND * float(self.screen.fps) * 2  # (sound packets: about as many)
        before = (self.decoder.counts.bytes_video, self.decoder.counts.bytes_audio)
        if kind == "packet":
            try:
                shown = self.decoder.packet(data, render)
            except FormatError as exc:
                self._refused(str(exc))
                return
        else:
            shown, errors = self.decoder.feed(data, render)
            for message in errors:
                self._refused(message)
        now = time.time()
        self.screen.meter.took(now, self.decoder.counts.bytes_video - before[0],
                               self.decoder.counts.bytes_audio - before[1])
        if self.screen.show(shown, now, self.decoder) and not self.stay:
            self.done.set()
        if self.decoder.wants_key and now - self.last_ask > KEY_EVERY:
            self.last_ask = now
            sender.ask()

    def _refused(self, message: str) -> None:
        self.say(f"refused: {message}")
        self.board.post(refused=self.decoder.counts.refused)  # (the decoder counts every refusal)

    def finish(self, interrupted: bool) -> ReceiveReport:
        self.done.set()
        if self.thread.ident is not None:  # (not started when listening failed)
            self.thread.join(5)
        report, screen = self.screen.report, self.screen
        report.interrupted = interrupted
        report.bytes_video, report.bytes_audio = self.decoder.counts.bytes_video, self.decoder.counts.bytes_audio
        report.refused = self.decoder.counts.refused
        report.seconds = report.frames / float(screen.fps)
        report.sound = screen.output.sound
        screen.output.finish(report.frames > 0)
        screen.meter.close()
        self.board.close()
        return report


# -- the servers --

def _ws_server(receiver: Receiver, address: Address):
    from websockets.datastructures import Headers
    from websockets.http11 import Response
    from websockets.sync.server import serve

    def process_request(connection, request):
        if request.path in ("/", "/index.html") and "upgrade" not in request.headers.get("Connection", "").lower():
            body = PAGE.encode("utf-8")
            return Response(200, "OK", Headers([("Content-Type", "text/html; charset=utf-8"),
                                                ("Content-Length", str(len(body))),
                                                ("Cache-Control", "no-store")]), body)
        return None

    def handler(connection) -> None:
        if connection.request.path == "/view":
            receiver.board.serve(connection)
            return
        host = connection.remote_address
        sender = _Sender(lambda: _quiet(connection.send, KEY_REQUEST), f"{host[0]}:{host[1]}")
        receiver.arrive(sender, "open")
        why = None
        try:
            for message in connection:
                if isinstance(message, str):
                    try:
                        receiver.arrive(sender, "time", json.loads(message))
                    except (ValueError, KeyError, TypeError):
                        pass
                else:
                    receiver.arrive(sender, "packet", message)
        except Exception as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        receiver.arrive(sender, "closed", why)

    return serve(handler, address.host or None, address.port, process_request=process_request,
                 compression=None, max_size=None, ping_interval=None)


def _quiet(send, message) -> None:
    try:
        send(message)
    except Exception:
        pass


def _tcp_server(receiver: Receiver, address: Address):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock = self.request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            host = self.client_address
            sender = _Sender(lambda: _quiet(sock.sendall, TCP_KEY), f"{host[0]}:{host[1]}")
            receiver.arrive(sender, "open")
            why = None
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    receiver.arrive(sender, "bytes", data)
            except OSError as exc:
                why = str(exc)
            receiver.arrive(sender, "closed", why)

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    return Server((address.host, address.port), Handler)


def receive(codec, listen: str, output: str, *, force: bool = False, sound: bool = True,
            stay: bool = False, view_port: int | None = None, say: Say = print,
            log: str | None = None, ready: Callable[[], None] | None = None) -> ReceiveReport:
    """Listens on ``listen`` until the sender ends the stream (``stay``: until Ctrl-C) and
    writes what arrives to ``output``. ``ready()`` is called once it listens."""
    address = parse_address(listen, listen=True)
    if address is None:
        raise InputError(f"{listen}: receive listens on ws://HOST:PORT or tcp://HOST:PORT")
    receiver = Receiver(codec, output, force, sound, stay, say, log)
    servers = []
    try:
        try:
            if address.scheme == "ws":
                servers.append(_ws_server(receiver, address))
            else:
                servers.append(_tcp_server(receiver, address))
                if view_port:
                    servers.append(_ws_server(receiver, Address("ws", "", view_port)))
        except OSError as exc:
            raise InputError(f"{listen}: cannot listen there ({exc.strerror or exc})") from None
        for server in servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        receiver.thread.start()
        host = address.host or "localhost"
        page = (f"http://{host}:{address.port}/" if address.scheme == "ws"
                else f"http://{host}:{view_port}/" if view_port else None)
        say(f"listening on {listen}" + (f"; the view is at {page}" if page else ""))
        if ready is not None:
            ready()
        interrupted = False
        try:
            while not receiver.done.wait(0.2):
                pass
        except KeyboardInterrupt:
            interrupted = True
        return receiver.finish(interrupted)
    finally:
        for server in servers:
            server.shutdown()
            if hasattr(server, "server_close"):
                server.server_close()
        if not receiver.done.is_set():
            receiver.finish(True)

"""Connections that carry a live stream's packets, from `send` to `receive`.

Addresses: ``ws://HOST:PORT`` (a WebSocket, through the websockets library: one packet a
binary message; the receiver's page is served on the same port) or ``tcp://HOST:PORT`` (the
packets end to end on a TCP connection: records delimit themselves). Anything else names a
file the sender writes the stream into.

Back from the receiver: "key" (a WebSocket text message, or the byte ``K`` over TCP) asks
for an intra key frame. Over WebSocket the sender also sends, once a second, a text message
{"frame": n, "time": t}: when frame n of the stream was read (for the latency the page shows;
the stream's own bytes do not carry time).
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlparse

from ..errors import InputError

KEY_REQUEST = "key"
TCP_KEY = b"K"
# Packets a slow link may hold back before the sender drops them (about 2 s of a call's
# frames and sound): a slow receiver costs frames, never memory.
SEND_QUEUE = 150


@dataclass(frozen=True)
class Address:
    scheme: str  # "ws" or "tcp"
    host: str
    port: int
    path: str = "/"

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.path}"


def parse_address(text: str, listen: bool = False) -> Address | None:
    """``ws://HOST:PORT[/PATH]`` or ``tcp://HOST:PORT`` (None: not a network address; to
    listen, HOST may be empty: every interface). InputError for a malformed one."""
    if "://" not in text:
        return None
    parsed = urlparse(text)
    if parsed.scheme not in ("ws", "tcp"):
        raise InputError(f"{text}: unknown address scheme {parsed.scheme!r} (use ws:// or tcp://)")
    try:
        port = parsed.port
    except ValueError:
        port = None
    if port is None or not 0 < port < 65536:
        raise InputError(f"{text}: the address needs a port (ws://HOST:PORT or tcp://HOST:PORT)")
    host = parsed.hostname or ("" if listen else None)
    if host is None:
        raise InputError(f"{text}: the address needs a host")
    return Address(parsed.scheme, host, port, parsed.path or "/")


class Link:
    """The sender's end of a connection: packets go out through a thread with a bounded
    queue (``send`` never blocks on a slow network: past SEND_QUEUE it drops what waits and
    says so through ``dropped``), key requests come back (``requests``)."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue(SEND_QUEUE)
        self.closed = threading.Event()
        self.error: str | None = None  # why the connection ended
        self.key_requests = 0  # "key" messages not yet taken
        self.dropped = 0  # packets dropped for a slow link
        self.bytes = 0  # stream bytes sent
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, daemon=True)

    def start(self) -> "Link":
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return not self.closed.is_set()

    def send(self, packet: bytes) -> bool:
        """Queues a stream packet; False when the queue was full and was dropped (the
        caller should start a key frame)."""
        try:
            self.queue.put_nowait(("bin", packet))
            return True
        except queue.Full:
            while True:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    break
                self.dropped += 1
            self.dropped += 1
            return False

    def send_time(self, frame: int, time: float) -> None:
        """When frame ``frame`` was read (WebSocket only: for the page's latency)."""

    def requests(self) -> int:
        """Key requests since the last call."""
        with self._lock:
            count, self.key_requests = self.key_requests, 0
        return count

    def _asked(self) -> None:
        with self._lock:
            self.key_requests += 1

    def _pump(self) -> None:
        try:
            while True:
                kind, item = self.queue.get()
                if kind == "end":
                    break
                self._write(kind, item)
                if kind == "bin":
                    self.bytes += len(item)
        except Exception as exc:  # the connection's own errors, whatever the library
            self.error = self.error or _why(exc)
        finally:
            self._shut()
            self.closed.set()

    def close(self, timeout: float = 5.0) -> None:
        """Sends what is queued, then closes."""
        if self.alive:
            try:
                self.queue.put(("end", None), timeout=timeout)
            except queue.Full:
                pass
            self._thread.join(timeout)
        self._shut()
        self.closed.set()

    def _write(self, kind: str, item) -> None:
        raise NotImplementedError

    def _shut(self) -> None:
        raise NotImplementedError


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


class WebSocketLink(Link):
    def __init__(self, address: Address, timeout: float = 3.0) -> None:
        from websockets.sync.client import connect

        super().__init__()
        # no compression: the packets are already compressed, and small
        # (entered as a context manager, as websockets 17 asks; closed by _shut)
        self.ws = connect(address.url, compression=None, open_timeout=timeout,
                          max_size=None, proxy=None).__enter__()
        self._reader = threading.Thread(target=self._listen, daemon=True)
        self._reader.start()

    def send_time(self, frame: int, time: float) -> None:
        try:
            self.queue.put_nowait(("text", json.dumps({"frame": frame, "time": time})))
        except queue.Full:
            pass

    def _write(self, kind: str, item) -> None:
        self.ws.send(item)

    def _listen(self) -> None:
        try:
            for message in self.ws:
                if message == KEY_REQUEST:
                    self._asked()
        except Exception as exc:  # closed
            self.error = self.error or _why(exc)
        self.closed.set()

    def _shut(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


class TcpLink(Link):
    def __init__(self, address: Address, timeout: float = 3.0) -> None:
        super().__init__()
        self.sock = socket.create_connection((address.host, address.port), timeout=timeout)
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small packets, now
        self._reader = threading.Thread(target=self._listen, daemon=True)
        self._reader.start()

    def _write(self, kind: str, item) -> None:
        if kind == "bin":
            self.sock.sendall(item)

    def _listen(self) -> None:
        try:
            while True:
                data = self.sock.recv(64)
                if not data:
                    break
                for _ in range(data.count(TCP_KEY)):
                    self._asked()
        except OSError as exc:
            self.error = self.error or _why(exc)
        self.error = self.error or "the receiver closed the connection"
        self.closed.set()

    def _shut(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def connect(address: Address, timeout: float = 3.0) -> Link:
    """A started Link to a receiver (OSError, or the library's error, when none answers)."""
    link = WebSocketLink(address, timeout) if address.scheme == "ws" else TcpLink(address, timeout)
    return link.start()

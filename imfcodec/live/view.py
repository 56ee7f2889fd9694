"""The browser view `imfcodec receive` serves: the page (page.html) at ``/``, and on the
WebSocket ``/view`` the decoded frames (JPEG, binary messages) and the figures (JSON text
messages: frames, kbps of video and sound, latency, drops) as they change.

Each browser gets the newest frame when it is ready for one: a slow browser skips frames, it
never makes the receiver wait or hold more than one picture for it. Several frames decoded
from one packet (a FRAME record of two frames, a TOKENS record of several) are posted a frame
time apart (``play``), so that the page shows each of them, at the pace they were filmed.
"""

from __future__ import annotations

import json
import threading
from importlib import resources

import cv2
import numpy as np

PAGE = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
JPEG_QUALITY = 85


def jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return data.tobytes() if ok else b""


class Board:
    """The newest picture and figures, for any number of browsers."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.version = 0
        self.picture: np.ndarray | None = None
        self.figures: dict = {"state": "waiting for a sender", "frames": 0, "kbps": 0.0,
                              "video_kbps": 0.0, "audio_kbps": 0.0, "latency_ms": None,
                              "dropped": 0, "refused": 0}
        self.viewers = 0
        self.closed = False
        self.order = 0  # the last picture's place in the receiver's output (newer: higher)

    def post(self, picture: np.ndarray | None = None, order: int | None = None, **figures) -> None:
        """The figures, and the picture unless a newer one (a higher ``order``) was posted."""
        with self.changed:
            if picture is not None and (order is None or order > self.order):
                self.picture, self.order = picture, order or self.order
            self.figures.update(figures)
            self.version += 1
            self.changed.notify_all()

    def play(self, pictures: list[tuple[int, np.ndarray]], interval: float) -> None:
        """Pictures decoded together, (order, picture) in order: the first now, each of the
        others ``interval`` seconds after the one before (a newer post overtakes them)."""
        for k, (order, picture) in enumerate(pictures[1:], 1):
            timer = threading.Timer(k * interval, self.post, args=(picture, order))
            timer.daemon = True
            timer.start()
        if pictures:
            self.post(pictures[0][1], pictures[0][0])

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def serve(self, connection) -> None:
        """One browser's /view connection (websockets' handler thread), until it goes."""
        seen, shown = -1, None
        with self.changed:
            self.viewers += 1
        try:
            while True:
                with self.changed:
                    self.changed.wait_for(lambda: self.version != seen or self.closed, timeout=1.0)
                    if self.closed:
                        return
                    if self.version == seen:
                        continue
                    seen, picture, figures = self.version, self.picture, dict(self.figures)
                connection.send(json.dumps(figures))
                if picture is not None and picture is not shown:
                    connection.send(jpeg(picture))
                    shown = picture
        except Exception:  # the browser went away
            return
        finally:
            with self.changed:
                self.viewers -= 1

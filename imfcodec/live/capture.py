"""A source played in real time for `imfcodec send`: a file at its own frame rate (``loop``:
again and again), a camera or other FFmpeg device (``input_format``, e.g. v4l2 for
/dev/video0), or ``-``, a container on standard input. Frames come out upright, at the size
``planner`` gives for the first frame's (live/encoder.py, live_plan: the source's own size, a
smaller box, or a square cropped or padded by ``fit``); the sound as 48 kHz 16-bit PCM; each with its time in
seconds from the first frame, when it is due (a file is paced by the wall clock; a device or
a pipe gives its frames when they happen).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import numpy as np

from ..errors import InputError
from ..io.audio import RATE, layout
from ..io.reader import fit_frame, upright, with_video
from ..layout import Plan

DEVICE_PREFIXES = ("/dev/video",)


@dataclass(frozen=True)
class _Opening:
    """How the source is opened: its name as given, what FFmpeg opens (a path or standard
    input's bytes) and in which input format (None: FFmpeg's guess)."""

    source: str
    target: Any
    input_format: str | None

    @property
    def name(self) -> str:
        return "standard input" if self.source == "-" else self.source

    @property
    def hint(self) -> str:
        """What to do about a pipe FFmpeg cannot read."""
        return ("; a pipe needs a container that streams, such as Matroska (-f matroska) or "
                "MPEG-TS, not an .mp4 whose index comes last") if self.source == "-" else ""

    def open(self):
        try:
            container = av.open(self.target, "r", format=self.input_format)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise InputError(f"{self.name}: cannot be opened ({_first(exc)}){self.hint}") from None
        return with_video(container, self.source)


@dataclass(frozen=True)
class _Form:
    """The form frames and sound come out in: the picture ``planner`` gives for the source's
    (width, height), upright, cropped or padded by ``fit``; the sound's ``channels``."""

    planner: Callable[[tuple[int, int]], Plan]
    fit: str
    channels: int


class Capture:
    """Video frames ("video", t, rgb) and sound ("audio", t, pcm) in the order they are due."""

    def __init__(self, source: str, planner: Callable[[tuple[int, int]], Plan], fit: str = "crop",
                 channels: int = 1, sound: bool = True, loop: bool = False,
                 input_format: str | None = None, pace: bool | None = None) -> None:
        """``planner``: the picture to code for a source of (width, height), upright."""
        self.form = _Form(planner, fit, channels)
        self.loop = loop
        device = source.startswith(DEVICE_PREFIXES) or input_format is not None
        if source == "-":
            target, self.pace = sys.stdin.buffer, False if pace is None else pace
        else:
            if not device and not Path(source).is_file():
                raise InputError(f"{source}: no such file")
            target, self.pace = source, (not device) if pace is None else pace
        if source == "-" and loop:
            raise InputError("--loop needs a file, not standard input")
        self.opening = _Opening(source, target, input_format or (
            "v4l2" if source.startswith(DEVICE_PREFIXES) else None))
        self.container = self.opening.open()
        video = self.container.streams.video[0]
        self.fps = Fraction(video.average_rate or video.guessed_rate or 25).limit_denominator(1 << 20)
        if not 0 < self.fps <= 240:
            self.fps = Fraction(25)
        # the source's size, upright, and the picture coded: known at the first frame
        self.size = (video.codec_context.width, video.codec_context.height)
        self.planned: Plan | None = None
        self.has_audio = sound and bool(self.container.streams.audio)
        self.late = 0.0  # seconds the item just given is past its time (a paced file's)

    def __iter__(self) -> Iterator[tuple[str, float, np.ndarray]]:
        offset = 0.0
        self._clock = None  # the wall-clock time (monotonic) of t = 0
        while True:
            last = 0.0
            for kind, t, data in self._pass():
                t += offset
                last = max(last, t)
                if self.pace:
                    if self._clock is None:
                        self._clock = time.monotonic() - t
                    wait = self._clock + t - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    self.late = max(0.0, -wait)
                yield kind, t, data
            if not self.loop:
                return
            offset = last + 1 / float(self.fps)
            self.container.close()
            self.container = self.opening.open()

    def resume(self) -> None:
        """After a pause (a sender waiting for its receiver): what comes next is due from now."""
        self._clock = None

    def _pass(self) -> Iterator[tuple[str, float, np.ndarray]]:
        container = self.container
        video = container.streams.video[0]
        streams = [video]
        audio = container.streams.audio[0] if self.has_audio else None
        resampler = None
        if audio is not None:
            streams.append(audio)
            resampler = av.AudioResampler(format="s16", layout=layout(self.form.channels), rate=RATE)
        first = None  # the first frame's time on the container's clock
        heard = None  # the next sample's time (from the sound's own start)
        try:
            for packet in container.demux(*streams):
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    continue
                for frame in decoded:
                    stamp = float(frame.pts * frame.time_base) if frame.pts is not None else None
                    if packet.stream is video:
                        if first is None:
                            first = stamp or 0.0
                        t = (stamp - first) if stamp is not None else 0.0
                        turned = upright(frame, int(round(frame.rotation / 90)) * 90 % 360)
                        if self.planned is None:
                            self.size = (turned.width, turned.height)
                            self.planned = self.form.planner(self.size)
                        yield "video", t, fit_frame(turned, self.planned.read, self.form.fit)
                    elif first is not None:
                        if heard is None:
                            heard = (stamp - first) if stamp is not None else 0.0
                        frame.pts = None
                        for out in resampler.resample(frame):
                            pcm = out.to_ndarray().reshape(-1, self.form.channels)
                            yield "audio", heard, pcm
                            heard += len(pcm) / RATE
        except av.FFmpegError as exc:
            raise InputError(f"{self.opening.name}: reading failed ({_first(exc)}){self.opening.hint}") from None

    def close(self) -> None:
        self.container.close()


def _first(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0]

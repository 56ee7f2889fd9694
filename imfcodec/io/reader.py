"""Any input FFmpeg reads, through PyAV, as RGB frames at the model's resolution."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..device import threads
from ..errors import InputError
from .timeline import Resampling, resampling

MAX_SOURCE_SIDE = 8192  # larger inputs are refused rather than decoded at great cost
MIN_SOURCE_SIDE = 2
IMF_MAGIC = b"\x89IMF"  # bitstream.MAGIC (io/ does not import the container module)


@dataclass
class VideoInfo:
    width: int  # as displayed: after the container's rotation
    height: int
    fps: Fraction  # of the frames read (the resampled rate for an irregular source)
    frames: int | None  # what the container announces; None when it does not say
    rotation: int = 0  # degrees the display turns the coded picture counter-clockwise
    resampled: Resampling | None = None  # irregular timestamps, shown at a constant rate
    start: float = 0.0  # seconds on the container's clock at which the first frame shows
    packets: int | None = None  # video packets with a time, as demuxed (None: some had none)

    @property
    def crop_share(self) -> float:
        """The share of the picture a centre square crop keeps."""
        return min(self.width, self.height) / max(self.width, self.height)


def standard_input(path: str | Path) -> bool:
    """Whether ``path`` is ``-`` or names standard input when that is not a regular file
    (/dev/stdin, /dev/fd/0 on a pipe or a terminal)."""
    if str(path) == "-":
        return True
    try:
        found = os.stat(path)
        return not stat.S_ISREG(found.st_mode) and os.path.samestat(found, os.fstat(0))
    except (OSError, ValueError):
        return False


def existing_file(path: str | Path, kind: str = "a video") -> Path:
    """The path of an input file that exists (InputError for a missing path, a folder,
    standard input, a pipe or a device: inputs are read more than once, and sized)."""
    if standard_input(path):
        raise InputError(f"{path}: reading {kind} from standard input is not supported; give a file")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not {kind}")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        what = "a pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) \
            else "a device"
        raise InputError(f"{path}: is {what}, not {kind} in a regular file (inputs are read "
                         f"from files)")
    return path


def _open(path: str | Path):
    path = existing_file(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    with open(path, "rb") as f:
        if f.read(4) == IMF_MAGIC:
            raise InputError(f"{path}: this is already an .imf file; use `imfcodec decode` to "
                             f"turn it back into video")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a video FFmpeg can read ({type(exc).__name__})") from None
    return with_video(container, path)


def with_video(container, name: str | Path):
    """``container`` if it holds a video stream; else closed, and InputError."""
    if not container.streams.video:
        container.close()
        raise InputError(f"{name}: has no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    """Size, frame rate, rotation and timing of the first video stream (demuxed to the end,
    decoded only up to its first frame)."""
    with _open(path) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        nominal = stream.base_rate or stream.guessed_rate
        frames = stream.frames or None
        start_time = stream.start_time * stream.time_base if stream.start_time is not None else 0
        rotation, times = _scan(container, stream, path)
    if not width or not height:
        raise InputError(f"{path}: video stream has no frame size")
    if max(width, height) > MAX_SOURCE_SIDE:
        raise InputError(f"{path}: {width}x{height} is larger than {MAX_SOURCE_SIDE} pixels a side")
    if min(width, height) < MIN_SOURCE_SIDE:
        raise InputError(f"{path}: {width}x{height} is too small")
    if rotation % 180:
        width, height = height, width
    fps = Fraction(rate) if rate else Fraction(25)
    if fps <= 0 or fps > 1000:
        fps = Fraction(25)
    resampled = resampling(times, Fraction(nominal) if nominal else None) if times is not None else None
    if resampled is not None:
        fps = resampled.fps
    start = min(times) if times else float(start_time or 0)
    return VideoInfo(width, height, fps.limit_denominator(1 << 20), frames, rotation, resampled, start,
                     len(times) if times is not None else None)


def _scan(container, stream, path) -> tuple[int, list[float] | None]:
    """The rotation of the first frame (degrees counter-clockwise, a multiple of 90) and the
    presentation time of every packet (None when some packet has none)."""
    rotation, times = None, []
    try:
        for packet in container.demux(stream):
            if packet.pts is None:
                if packet.size:
                    times = None
                continue
            if times is not None:
                times.append(float(packet.pts * packet.time_base))
            if rotation is None:
                for frame in packet.decode():
                    rotation = int(round(frame.rotation / 90)) * 90 % 360
                    break
    except av.FFmpegError as exc:
        raise InputError(f"{path}: decoding failed ({exc})") from None
    return rotation or 0, times


def upright(frame: av.VideoFrame, rotation: int) -> av.VideoFrame:
    """The picture as players show it: turned ``rotation`` degrees counter-clockwise."""
    if not rotation:
        return frame
    rgb = np.rot90(frame.to_ndarray(format="rgb24"), k=rotation // 90)
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")


def fit_frame(frame: av.VideoFrame, size: int | tuple[int, int], fit: str) -> np.ndarray:
    """At ``size`` (width, height): the whole picture resized (the caller keeps the aspect);
    at a square ``size`` (one number): centre square crop (``crop``) or letterbox (``pad``),
    then resized to size x size."""
    if isinstance(size, tuple):
        if (frame.width, frame.height) == size:
            return frame.to_ndarray(format="rgb24")
        return frame.reformat(size[0], size[1], "rgb24", interpolation="AREA").to_ndarray()
    w, h = frame.width, frame.height
    if fit == "crop":
        side = min(w, h)
        rgb = frame.to_ndarray(format="rgb24")
        top, left = (h - side) // 2, (w - side) // 2
        square = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(rgb[top : top + side, left : left + side]), format="rgb24"
        )
        return square.reformat(size, size, "rgb24", interpolation="AREA").to_ndarray()
    scale = size / max(w, h)
    nw, nh = max(2, round(w * scale)), max(2, round(h * scale))
    inner = frame.reformat(nw, nh, "rgb24", interpolation="AREA").to_ndarray()
    out = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = inner
    return out


def _decoded(container, stream) -> Iterator[av.VideoFrame]:
    """The stream's frames, packet by packet; a packet the decoder refuses as damaged (a file
    cut short, a broken packet) is skipped, as FFmpeg does, so what decodes is kept (the
    encode then says how many of the announced frames it read)."""
    for packet in container.demux(stream):
        try:
            frames = stream.decode(packet)  # (the last, empty packet flushes the decoder)
        except av.error.InvalidDataError:
            continue
        yield from frames


def read_frames(path: str | Path, size: int | tuple[int, int], fit: str = "crop",
                info: VideoInfo | None = None) -> Iterator[np.ndarray]:
    """Yields RGB uint8 frames at ``size`` (fit_frame) in display order, upright, at a constant rate
    (``info``: the input's probe, for its rotation and resampling; probed here if None)."""
    info = info or probe(path)
    shows = info.resampled.shows if info.resampled is not None else ()
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads()  # device.use_threads (0 would be every core)
        try:
            for index, frame in enumerate(_decoded(container, stream)):
                copies = shows[index] if index < len(shows) else 1
                if copies:
                    picture = fit_frame(upright(frame, info.rotation), size, fit)
                    for _ in range(copies):
                        yield picture
        except av.FFmpegError as exc:
            raise InputError(f"{path}: decoding failed ({exc})") from None

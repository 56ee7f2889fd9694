"""A video output with its sound: frames through io/writer.py and Opus packets inside an
.mp4 or .mkv, interleaved by time, or in an Ogg Opus file beside a .y4m or a PNG folder;
written atomically (io/atomic.py). `imfcodec decode` and `imfcodec animate` write through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np

from .atomic import atomic_path, check_target
from .audio import RATE, write_opus
from .writer import WITH_SOUND, FrameWriter, output_kind

Packets = Iterator[tuple[int, int, bytes]]  # (pts, duration, data), times in 1/48000 s


@dataclass(frozen=True)
class Sound:
    """Opus packets to put beside frames: ``packets()`` gives a fresh pass over them, times
    from the first frame; ``start``: the first sample's time, in 1/48000 s (negative: before
    the first frame)."""

    channels: int
    extradata: bytes  # the OpusHead
    start: int
    packets: Callable[[], Packets]

    def video_delay(self, fps: Fraction) -> int:
        """Frame times to show the first frame late by in a container whose clock starts
        at 0, so that sound starting before the first frame keeps all of it, in sync."""
        lead = max(0, -self.start)
        return -(-lead * fps.numerator // (RATE * fps.denominator))  # rounded up


def sound_path(target: str | Path, sound: Sound | None) -> Path | None:
    """Where the sound goes beside ``target``: None without sound or when it goes inside
    (.mp4, .mkv); else an Ogg Opus file (``out.y4m`` -> ``out.opus``, ``frames/`` ->
    ``frames.opus``)."""
    if sound is None or output_kind(target) in WITH_SOUND:
        return None
    target = Path(target)
    return target.with_suffix(".opus") if target.suffix else target.parent / (target.name + ".opus")


def save_video(target: str | Path, frames: Iterable[np.ndarray], fps: Fraction,
               size: tuple[int, int], sound: Sound | None = None, force: bool = False,
               progress: Callable[[int], None] | None = None) -> Path:
    """Writes the frames (and sound) to ``target`` atomically: .mp4 (H.264), .mkv (FFV1),
    .y4m or a PNG folder, the sound inside the first two and beside the others."""
    kind = output_kind(target)
    beside = sound_path(target, sound)
    if beside is not None:
        check_target(beside, force)
    placed = None  # the sound, once in place: removed if the frames cannot follow it
    try:
        with atomic_path(target, force, directory=kind == "png",
                         replaceable=lambda d: all(p.suffix == ".png" for p in d.iterdir())) as tmp:
            write_video(tmp, kind, frames, fps, size, sound, progress)
            if beside is not None:
                with atomic_path(beside, force) as tmp_sound:
                    write_opus(tmp_sound, sound.channels, sound.extradata, sound.packets())
                placed = beside
    except BaseException:
        if placed is not None and not force:  # ours alone: nothing stood there before
            placed.unlink(missing_ok=True)
        raise
    return Path(target)


def write_video(target: str | Path | BinaryIO, kind: str, frames: Iterable[np.ndarray],
                fps: Fraction, size: tuple[int, int], sound: Sound | None = None,
                progress: Callable[[int], None] | None = None) -> None:
    """The frames to ``target`` (a path, or a binary stream for .y4m), not atomically, with
    the sound's packets interleaved by time when ``kind`` carries sound (else it is left
    for ``save_video`` to put beside)."""
    inside = sound is not None and kind in WITH_SOUND
    tracks = dict(audio=(sound.channels, sound.extradata), delay=sound.video_delay(fps)) if inside else {}
    with FrameWriter(target, kind, fps, size, **tracks) as writer:
        packets = sound.packets() if inside else iter(())
        packet = next(packets, None)
        for index, frame in enumerate(frames):
            writer.write(frame)
            until = (index + 1) * RATE / fps  # the end of this frame's time
            while packet is not None and packet[0] < until:
                writer.write_audio(*packet)
                packet = next(packets, None)
            if progress:
                progress(1)
        while packet is not None:
            writer.write_audio(*packet)
            packet = next(packets, None)
        writer.close()

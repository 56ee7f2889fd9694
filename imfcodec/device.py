"""Which torch device to run on: the one place that turns "auto" / "cpu" / "cuda" into a device;
and how many CPU threads every library may use (use_threads: the one place that sets them)."""

from __future__ import annotations

import os

from .errors import DeviceError, InputError

DEVICES = ("auto", "cpu", "cuda")


def resolve(name: str = "auto") -> str:
    """"auto" -> "cuda" when a CUDA device is available, else "cpu"; "cuda" without one is a
    DeviceError (exit code 2), not a failure deep inside torch."""
    import torch

    if name not in DEVICES and not name.startswith("cuda:"):
        raise DeviceError(f"--device {name}: choose one of {', '.join(DEVICES)}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"--device {name}: no CUDA device is available on this machine")
    return name


# -- CPU threads --------------------------------------------------------------------------
# One count for every library that runs threads of its own: torch (intra-op; inter-op is
# kept at 1, nothing here forks torch work), OpenCV (remap, resize, DIS optical flow) and
# FFmpeg's codecs through PyAV (the input's decoder, the output's encoder: libx264, FFV1).
# The key frames' x265 stream stays single-threaded (pools=none, frame-threads=1 in
# intra.py) and the key-frame decoder at one thread whatever the count, so an .imf file's
# bytes never depend on it (tests/test_threads.py).
MAX_DEFAULT_THREADS = 8  # a 256x256 network and a small picture gain little past this

_threads: int | None = None  # the count chosen by use_threads (None: not chosen)


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity: taskset and cpusets count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """The thread count when none is given: OMP_NUM_THREADS when it is set to a number, else
    half the cores this process may use (1 on 2 cores, 8 on 16), at most MAX_DEFAULT_THREADS.
    Half, because two stages run at once: the motion model and OpenCV in the main thread,
    and FFmpeg's encoder of the output (or decoder of the input) in its own threads; each
    library's pool at every core would oversubscribe the machine (and libgomp's workers spin
    waiting for a core another job holds: on a loaded 2-core machine one torch thread decoded
    faster than two)."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    return max(1, min(MAX_DEFAULT_THREADS, cpu_cores() // 2))


def threads() -> int:
    """The thread count in force: use_threads' choice, else default_threads()."""
    return _threads if _threads is not None else default_threads()


def use_threads(count: int | None = None) -> int:
    """Sets every library's CPU thread count to ``count`` (None: default_threads()); returns
    it. InputError for a count under 1. The command line calls it once, before any work."""
    global _threads
    if count is None:
        count = default_threads()
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"--threads {count}: give a whole number of threads, 1 or more")
    import cv2
    import torch

    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)  # only before torch's first parallel work
    except RuntimeError:
        pass
    cv2.setNumThreads(count)
    _threads = count
    return count

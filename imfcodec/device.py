"""Which torch device to run on: the one place that turns "auto" / "cpu" / "cuda" into a device;
and how many CPU threads every library may use (use_threads: the one place that sets them)."""

from __future__ import annotations

import os

from .errors import DeviceError, InputError

DEVICES = ("auto", "cpu", "cuda")
DEVICE_HELP = "Where the model runs (cuda without a CUDA device: exit 2)."


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
MAX_DEFAULT_THREADS = 8  # the default's cap (more cores: --threads)

_threads: int | None = None  # the count chosen by use_threads (None: not chosen)


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity: taskset and cpusets count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """The thread count when none is given: OMP_NUM_THREADS when it is set to a number, else
    the cores this process may use, at most MAX_DEFAULT_THREADS (2 on 2 cores, 8 on 16).

    Every core, because torch's OpenMP workers wait passively (imfcodec/__init__.py sets
    OMP_WAIT_POLICY=PASSIVE before torch loads): on the 2-core machine a decode ran at 62-63
    fps with 2 threads and 45 with 1 while it was quiet, and 41-43 with 2 and 33-46 with 1
    beside a job holding a core; spinning workers gave 68-70 quiet but 10-14 beside that job
    (benchmarks/README.md, "Decode speed against clip length"). FFmpeg's codecs (x264 frame
    threads) run beside the model's stage, so a busy machine has up to twice the count
    runnable, but all of them sleep while they wait."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    return max(1, min(MAX_DEFAULT_THREADS, cpu_cores()))


def threads() -> int:
    """The thread count in force: use_threads' choice, else default_threads()."""
    return _threads if _threads is not None else default_threads()


def use_threads(count: int | str | None = None) -> int:
    """Sets every library's CPU thread count to ``count`` (None: default_threads(); a string:
    as --threads gives it); returns it. InputError for anything but a whole number from 1.
    The command line calls it once, before any work."""
    global _threads
    if count is None:
        count = default_threads()
    elif isinstance(count, str) and count.strip().isdigit():
        count = int(count)
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

"""Giving freed memory back to the system: at once for large buffers, and between rate
control's passes for the rest.

Each pass over a clip allocates and frees the same large buffers (frames, the motion model's
pictures, the key frames' coders) many times; glibc's allocator keeps much of what is freed
in its heaps, in pieces the next pass does not always fit, so a long clip's peak memory crept
up pass after pass (1280x720, 240 frames, `--bitrate 8k`: 613 -> 648 MiB over 6 passes; with
the heaps trimmed after each pass 615 -> 624 MiB, and 370 MiB between passes). ``trim``
asks glibc to return it (malloc_trim); elsewhere it does nothing.

Trimming leaves the peak within a pass, which still grew with the clip's length: glibc serves
a buffer of 128 KiB or more from a mapping of its own only until such a buffer is freed, then
raises that threshold (up to 32 MiB) and serves the next ones from its heaps, where the
pictures of 720p and 1080p frames, each a few MiB, fragment them. ``bound`` fixes the
threshold at 128 KiB, so that every large buffer is mapped for itself and given back when it
is freed (1280x720, 360 frames, `--bitrate 8k`: peak 659 -> 597 MiB, the same as 120 frames'
590; benchmarks/README.md, "Speed and memory"). It costs time: each such buffer is mapped
afresh and its pages zeroed (decoding 1280x720 went from 52 to 26-30 fps with it, encoding
from 37 to 33 fps), so only rate control calls it, whose passes are what grew
(ratecontrol.encode_to_bitrate); the setting then stays for the rest of the process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


# mallopt's parameter number for the mapping threshold (glibc's malloc.h: M_MMAP_THRESHOLD)
_MMAP_THRESHOLD = -3
MAPPED_FROM = 128 * 1024  # bytes: glibc's default threshold, here kept fixed


def bound() -> bool:
    """Serves every buffer of MAPPED_FROM bytes or more from a mapping of its own, returned to
    the system when it is freed (glibc; True when set), else nothing (False)."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_MMAP_THRESHOLD, MAPPED_FROM))


def trim() -> None:
    """Returns the allocator's free memory to the system where it can (glibc), else nothing."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)

"""Giving freed memory back to the system between rate control's passes.

Each pass over a clip allocates and frees the same large buffers (frames, the motion model's
pictures, the key frames' coders) many times; glibc's allocator keeps much of what is freed
in its heaps, in pieces the next pass does not always fit, so a long clip's peak memory crept
up pass after pass (1280x720, 240 frames, `--bitrate 8k`: 613 -> 648 MiB over 6 passes; with
the heaps trimmed after each pass 615 -> 624 MiB, and 370 MiB between passes). ``trim``
asks glibc to return it (malloc_trim); elsewhere it does nothing.
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


def trim() -> None:
    """Returns the allocator's free memory to the system where it can (glibc), else nothing."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)

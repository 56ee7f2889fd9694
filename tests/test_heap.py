"""heap.py: large buffers go back to the system when freed (glibc), so that memory stays flat."""

import subprocess
import sys
from pathlib import Path

import pytest

from imfcodec import heap

# A child process frees every other of 64 buffers of 2 MiB after one of 4 MiB was freed (which
# raises glibc's own threshold above 2 MiB: the buffers then come from its heap, where freed
# holes stay resident). It prints its resident MiB before and after.
CHILD = """
import re, sys
import numpy as np
from imfcodec import heap
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024
if sys.argv[1] == "bound":
    print(heap.bound())
elif sys.argv[1] == "plain":  # an encode and a decode: glibc's own threshold is kept (speed)
    from imfcodec import Codec
    codec = Codec.load()
    list(codec.decode(codec.encode(sys.argv[2], audio=None)))
    print("plain")
else:  # a rate-controlled encode first
    from imfcodec import Codec
    Codec.load().encode(sys.argv[2], bitrate="8k", audio=None)
    print("rate")
first = np.ones(4 << 20, np.uint8)
del first
buffers = [np.ones(2 << 20, np.uint8) for _ in range(64)]
before = rss()
del buffers[::2]
print(before, rss())
"""


def _run(mode: str, clip: Path | None = None) -> tuple[str, int, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(clip)], capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0], int(out[1]), int(out[2])


GLIBC = pytest.mark.skipif(heap._libc() is None or not Path("/proc/self/status").exists(),
                           reason="glibc and /proc only (elsewhere bound() does nothing)")


@GLIBC
def test_bound_gives_freed_frame_buffers_back_at_once():
    said, before, after = _run("bound")
    assert said == "True"
    assert before - after >= 56  # the 32 freed buffers (64 MiB), less some pages


@GLIBC
def test_rate_control_bounds_the_heap_and_plain_coding_does_not(clip):
    _, before, after = _run("rate", clip)
    assert before - after >= 56
    _, before, after = _run("plain", clip)
    assert before - after < 32  # freed holes stay in glibc's heap: nothing is mapped afresh

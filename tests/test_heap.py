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
else:  # a command of the command line first (one that fails at once)
    from imfcodec.cli import main
    try:
        main(["info", "/nonexistent.imf"], standalone_mode=False)
    except SystemExit:  # (its one-line error: no such file)
        pass
    print("cli")
first = np.ones(4 << 20, np.uint8)
del first
buffers = [np.ones(2 << 20, np.uint8) for _ in range(64)]
before = rss()
del buffers[::2]
print(before, rss())
"""


def _run(mode: str) -> tuple[str, int, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1]), int(out[2])


@pytest.mark.skipif(heap._libc() is None or not Path("/proc/self/status").exists(),
                    reason="glibc and /proc only (elsewhere bound() does nothing)")
def test_bound_gives_freed_frame_buffers_back_at_once():
    said, before, after = _run("bound")
    assert said == "True"
    assert before - after >= 56  # the 32 freed buffers (64 MiB), less some pages


@pytest.mark.skipif(heap._libc() is None or not Path("/proc/self/status").exists(),
                    reason="glibc and /proc only (elsewhere bound() does nothing)")
def test_the_command_line_bounds_the_heap():
    _, before, after = _run("cli")
    assert before - after >= 56

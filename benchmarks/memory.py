"""Peak memory of `imfcodec encode` (plain and with --bitrate) and `imfcodec decode` against
clip length, at a picture size.

    python benchmarks/memory.py                       # 100 and 1000 frames, 8k, 256x256
    python benchmarks/memory.py --frames 100,1000 --bitrate 8k --json
    python benchmarks/memory.py --size 1920x1080 --frames 100,500 --json

Each encode runs in a fresh process (`python -m imfcodec.cli encode ...`) and its peak resident
memory is the child's ru_maxrss. Linux carries a process's peak over exec from the process
that spawned it, so the clips are written by a child of their own and this script stays
small (its own peak is printed beside the results): before, writing a 1080p clip here made
every child's peak at least this script's (687 MiB for both encode and decode). The clips are synthetic talking-head stand-ins (a
moving, slowly changing pattern, written as H.264), so nobody's footage is needed. Memory
should not grow with the clip's length: frames are streamed, rate control's passes keep only
their bytes and tokens. The script exits non-zero when the longest clip's peak is more than
20 % above the shortest's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_clip(path: Path, frames: int, size: tuple[int, int] = (256, 256), fps: int = 25) -> Path:
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy, xx = yy / height, xx / width
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for t in range(frames):
            phase = 2 * np.pi * t / 50
            cx, cy = 0.5 + 0.15 * np.sin(phase), 0.5 + 0.1 * np.cos(0.7 * phase)
            face = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.03)
            rgb = np.stack([0.3 + 0.6 * face, 0.25 + 0.5 * face * (0.8 + 0.2 * np.sin(phase)),
                            0.4 + 0.2 * yy], -1)
            frame = av.VideoFrame.from_ndarray((rgb.clip(0, 1) * 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def peak_mib(args: list[str]) -> tuple[float, float]:
    """(peak resident MiB, seconds) of one CLI run in a fresh process."""
    code = ("import resource, runpy, sys; sys.argv = ['imfcodec'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('imfcodec.cli', run_name='__main__')\n"
            "except SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"imfcodec {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    kib = int(done.stderr.strip().splitlines()[-1].split()[1])
    return round(kib / 1024, 1), round(time.perf_counter() - t0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="100,1000")
    parser.add_argument("--bitrate", default="8k")
    parser.add_argument("--model", default=None)
    parser.add_argument("--size", default="256x256", help="the synthetic clips' WIDTHxHEIGHT")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(f) for f in args.frames.split(",")]:
            clip = Path(tmp) / f"clip{n}.mp4"
            subprocess.run([sys.executable, __file__, "--write-clip", str(clip), str(n), args.size],
                           check=True)
            common = ["--force", "--quiet"] + (["--model", args.model] if args.model else [])
            plain = peak_mib(["encode", str(clip), str(Path(tmp) / "a.imf"), *common])
            rate = peak_mib(["encode", str(clip), str(Path(tmp) / "b.imf"), "--bitrate",
                             args.bitrate, *common])
            back = peak_mib(["decode", str(Path(tmp) / "a.imf"), str(Path(tmp) / "a.mkv"),
                             "--force", "--quiet"])
            rows.append({"frames": n, "size": args.size, "encode_peak_mib": plain[0],
                         "encode_s": plain[1], "bitrate_peak_mib": rate[0], "bitrate_s": rate[1],
                         "decode_peak_mib": back[0], "decode_s": back[1]})
            if not args.json:
                print(f"{n:6d} frames at {args.size}: encode {plain[0]:7.1f} MiB ({plain[1]} s), "
                      f"--bitrate {args.bitrate} {rate[0]:7.1f} MiB ({rate[1]} s), decode "
                      f"{back[0]:7.1f} MiB ({back[1]} s)", flush=True)
    growth = rows[-1]["bitrate_peak_mib"] / rows[0]["bitrate_peak_mib"] - 1
    own = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.json:
        print(json.dumps({"bitrate": args.bitrate, "rows": rows, "bitrate_growth": round(growth, 4),
                          "script_peak_mib": own}, indent=1))
    else:
        print(f"--bitrate peak grows {100 * growth:+.1f} % from {rows[0]['frames']} to "
              f"{rows[-1]['frames']} frames")
    sys.exit(0 if growth <= 0.20 else 1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write-clip"]:  # (a child: the clip, then out)
        path, frames, size = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        write_clip(Path(path), frames, tuple(int(v) for v in size.lower().split("x")))
    else:
        main()

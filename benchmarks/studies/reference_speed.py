"""Encode and decode speed of adaptive refresh with one and with several references (issue 28),
on real clips, one process, nothing else timed.

    python benchmarks/studies/reference_speed.py ../shared/data/val --references 1,4 --qualities 3,5,7 --json

Each clip is read once; then for each quality and reference count the codec's own encode
(`Codec.encode`, `--adaptive`, centred key frames: both passes) and decode (`Codec.decode` to
uint8 frames) are timed with the clock on the wall, as `imfcodec bench` times them, but with
no other work in between. Run it alone: a second process on a 2-core machine halves both.
Reported per clip and setting, and over all clips: frames per second of encode and decode
(all frames over all seconds; the slowest clip's decode beside it), and the mean rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from imfcodec.codec import Codec
from imfcodec.source import Source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path)
    parser.add_argument("--references", default="1,4")
    parser.add_argument("--qualities", default="3,5,7")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(r) for r in args.references.split(",")]
    levels = [int(q) for q in args.qualities.split(",")]
    codec = Codec.load()
    rows = []
    for path in sorted(args.clips.glob("*.mp4")):
        read = Source.open(path, codec.model.image_size)
        clip = Source.from_frames(read.read(), read.fps)  # decoded once, outside the clock
        for quality in levels:
            for references in counts:
                t0 = time.perf_counter()
                stream = codec.encode(clip, quality=quality, adaptive=True, references=references,
                                      audio=None)
                encode_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                frames = sum(1 for _ in codec.decode(stream))
                decode_s = time.perf_counter() - t0
                rows.append({"clip": path.name, "quality": quality, "references": references,
                             "frames": frames, "kbps": round(stream.stats.kbps, 3),
                             "encode_s": round(encode_s, 3), "decode_s": round(decode_s, 3),
                             "encode_fps": round(frames / encode_s, 2),
                             "decode_fps": round(frames / decode_s, 2)})
                print(rows[-1], file=sys.stderr)
    mean = {}
    for quality in levels:
        for references in counts:
            picked = [r for r in rows if r["quality"] == quality and r["references"] == references]
            total = sum(r["frames"] for r in picked)
            mean[f"q{quality}_r{references}"] = {
                "encode_fps": round(total / sum(r["encode_s"] for r in picked), 2),
                "decode_fps": round(total / sum(r["decode_s"] for r in picked), 2),
                "slowest_decode_fps": min(r["decode_fps"] for r in picked),
                "kbps": round(float(np.mean([r["kbps"] for r in picked])), 3)}
    report = {"rows": rows, "mean": mean,
              "command": f"python benchmarks/studies/reference_speed.py CLIPS --references {args.references} "
                         f"--qualities {args.qualities}"}
    print(json.dumps(report, indent=1) if args.json else report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Encode and decode speed of one clip at its own size (issue 38's targets: decode at 25 fps
or faster and encode at 10 fps or faster at 1280x720 on a 2-core CPU).

    python benchmarks/native/speed.py ../shared/data/native/<clip>.mp4 --frames 180 --json

The clip's first ``--frames`` frames are read into memory first (reading the input is not
timed); then, through the API (imfcodec.Codec), one key frame and ``--adaptive`` at quality
3 are each encoded (sound left out) and decoded to arrays, timed with a wall clock. The
thread count is the command line's default (imfcodec.device.use_threads) unless
``--threads`` is given. Run it alone: other jobs beside it slow it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--frames", type=int, default=180)
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from imfcodec.codec import Codec
    from imfcodec.device import use_threads
    from imfcodec.source import Source

    threads = use_threads(args.threads)
    codec = Codec.load()
    clip = codec.open(args.clip)
    frames = clip.read(args.frames)
    source = Source.from_frames(frames, clip.fps, name=args.clip.name)
    codec.encode(Source.from_frames(frames[:5], clip.fps), audio=None)  # warm-up (weights, pools)
    rows = []
    for adaptive in (False, True):
        start = time.perf_counter()
        stream = codec.encode(source, quality=args.quality, adaptive=adaptive, audio=None)
        encoded = time.perf_counter() - start
        start = time.perf_counter()
        count = sum(1 for _ in codec.decode(stream))
        decoded = time.perf_counter() - start
        rows.append({"mode": "adaptive" if adaptive else "one key frame", "frames": count,
                     "key_frames": stream.stats.key_frames,
                     "kbps": round(stream.stats.video_kbps, 2),
                     "encode_fps": round(len(frames) / encoded, 1),
                     "decode_fps": round(count / decoded, 1)})
    report = {"clip": args.clip.name, "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
              "threads": threads, "quality": args.quality, "rows": rows}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for row in rows:
            print(f"{report['clip']} {report['size']} {row['mode']}: encode {row['encode_fps']} fps, "
                  f"decode {row['decode_fps']} fps ({row['key_frames']} key frames, {row['kbps']} kbps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

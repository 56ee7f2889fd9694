"""Issue 39: over how long should the live encoder judge a refresh? Its refresh decisions
differ from a file's (each run's key frame at its start, tested every 0.1 s), so the file's
1 s (options.Tuning.refresh_horizon) may not be its best.

    python benchmarks/studies/live_horizon.py ../shared/data/train/<clip>.mp4 ... \\
        --horizons 0.5,1,2 --out benchmarks/studies/results/train/live_horizon.json

Each clip's first --frames frames go through LiveEncoder (one frame a record, what `imfcodec
send` sends) and LiveDecoder at qualities 1, 3, 5 for each horizon; the BD-rate (MS-SSIM) of
each horizon against 1 s, per clip and the mean. On val, the same comparison is two runs of
`benchmarks/causal.py --modes causal` (with and without --refresh-horizon).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import imfcodec
from imfcodec.bench.bdrate import bd_rate
from imfcodec.live import LiveDecoder, LiveEncoder, LiveSettings
from imfcodec.live.encoder import TEST_EVERY
from imfcodec.metrics import clip_quality
from imfcodec.options import Tuning


def point(codec, src, frames, quality, horizon) -> dict:
    stride = max(1, round(TEST_EVERY * float(src.fps)))
    tuning = Tuning(refresh_stride=stride, refresh_horizon=horizon)
    encoder = LiveEncoder(codec, src.fps, LiveSettings(quality=quality, tuning=tuning), sound=False)
    decoder = LiveDecoder(codec)
    packets = encoder.start() + [p for f in frames for p in encoder.frame(f)] + encoder.close()
    shown = [picture for p in packets for _, picture in decoder.packet(p).frames]
    kbps = encoder.bytes_video * 8 / 1000 / (len(frames) / float(src.fps))
    return {"kbps": round(kbps, 4), "msssim": round(clip_quality(frames, shown)["msssim"], 5),
            "keys": encoder.key_frames}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--horizons", default="0.5,1,2")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--out", default="benchmarks/studies/results/train/live_horizon.json")
    args = parser.parse_args()
    horizons = [float(h) for h in args.horizons.split(",")]
    codec = imfcodec.Codec.load(device="cpu")
    rows = []
    for path in map(Path, args.clips):
        src = codec.open(path, size=f"{codec.model.image_size}x{codec.model.image_size}")
        frames = src.read(args.frames)
        for horizon in horizons:
            for quality in (1, 3, 5):
                rows.append({"clip": path.name, "horizon": horizon, "quality": quality,
                             **point(codec, src, frames, quality, horizon)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    summary = {}
    for horizon in horizons:
        per_clip = {}
        for clip in sorted({r["clip"] for r in rows}):
            def curve(h):
                pts = [r for r in rows if r["clip"] == clip and r["horizon"] == h]
                return [r["kbps"] for r in pts], [r["msssim"] for r in pts]
            per_clip[clip] = bd_rate(*curve(1.0), *curve(horizon)).bd_rate
        values = [v for v in per_clip.values() if v is not None]
        summary[str(horizon)] = {"mean": round(float(np.mean(values)), 2),
                                 "per_clip": {k: None if v is None else round(v, 2)
                                              for k, v in per_clip.items()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"frames": args.frames, "bd_rate_msssim_vs_1s": summary,
                                          "rows": rows}, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

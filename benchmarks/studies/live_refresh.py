"""Issue 39: how should the live encoder decide its refreshes? Its decisions differ from a
file's (each run's key frame at its start, tested every 0.1 s), so the file's constants of the
R-D refresh test (options.Tuning) may not be its best.

    python benchmarks/studies/live_refresh.py ../shared/data/train/<clip>.mp4 ... \\
        --variants "h=1 h=0.5 h=2" --out benchmarks/studies/results/train/live_horizon.json
    python benchmarks/studies/live_refresh.py ... --variants "m=1 m=4 m=8" \\
        --out benchmarks/studies/results/train/live_cost_memory.json
    python benchmarks/studies/live_refresh.py ... --variants "i=0 t=0.05 t=0 t=0.15" \\
        --out benchmarks/studies/results/train/live_between.json
    python benchmarks/studies/live_refresh.py ... --variants "d=0 d=2 d=2,s=0.67 d=2,s=1" \\
        --out benchmarks/studies/results/train/live_delay.json

A variant sets Tuning.refresh_horizon (h, seconds), Tuning.refresh_cost_memory (m, the
predicted key frames whose mean size is a refresh's expected cost), Tuning.between_tolerance
(t), Tuning.lookahead_share (s), LiveSettings.interpolate (i=0: off; on by default) or
LiveSettings.delay (d, seconds: a latency budget, `send --delay`); the first variant is
the one the others are measured against. Each clip's first --frames frames go through
LiveEncoder (what `imfcodec send` sends) and LiveDecoder at qualities
1, 3, 5 for each variant; the BD-rate (MS-SSIM) of each variant against the first, per clip
and the mean. On val, the same comparison is runs of `benchmarks/live/causal.py --modes causal`
with --refresh-horizon / --refresh-cost-memory. ``--passes N`` plays each clip N times over as
one call (a long call from a short clip).
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
from imfcodec.live.encoder import live_tuning
from imfcodec.metrics import clip_quality

NAMES = {"h": "refresh_horizon", "m": "refresh_cost_memory", "t": "between_tolerance",
         "s": "lookahead_share"}


def parse_variant(text: str) -> tuple[dict, dict]:
    """'h=2,m=4' -> ({'refresh_horizon': 2.0, 'refresh_cost_memory': 4}, {}): Tuning's fields,
    and LiveSettings' ('i=0': {'interpolate': False}, no frame rebuilt between its neighbours;
    'd=2': {'delay': 2.0})."""
    out, settings = {}, {}
    for part in text.split(","):
        key, value = part.split("=")
        if key == "i":
            settings["interpolate"] = bool(int(value))
        elif key == "d":
            settings["delay"] = float(value)
        else:
            out[NAMES[key]] = int(value) if key == "m" else float(value)
    return out, settings


def point(codec, src, frames, quality, variant: tuple[dict, dict], passes: int = 1) -> dict:
    """One clip at one quality: its frames ``passes`` times over as one call; MS-SSIM the mean
    over the passes."""
    tuning = live_tuning(src.fps, **variant[0])
    settings = LiveSettings(quality=quality, tuning=tuning, **variant[1])
    encoder = LiveEncoder(codec, src.fps, settings, sound=False)
    decoder = LiveDecoder(codec)
    played = frames * passes
    packets = encoder.start() + [p for f in played for p in encoder.frame(f)] + encoder.close()
    shown = [picture for p in packets for _, picture in decoder.packet(p).frames]
    kbps = encoder.outbox.bytes_video * 8 / 1000 / (len(played) / float(src.fps))
    n = len(frames)
    msssim = np.mean([clip_quality(frames, shown[k * n : (k + 1) * n])["msssim"]
                      for k in range(passes)])
    return {"kbps": round(kbps, 4), "msssim": round(float(msssim), 5), "keys": encoder.key_frames}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--variants", default="h=1 h=0.5 h=2")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--passes", type=int, default=1,
                        help="each clip played this many times over as one call (a long call)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    variants = args.variants.split()
    codec = imfcodec.Codec.load(device="cpu")
    rows = []
    for path in map(Path, args.clips):
        src = codec.open(path, size=f"{codec.model.image_size}x{codec.model.image_size}")
        frames = src.read(args.frames)
        for variant in variants:
            for quality in (1, 3, 5):
                rows.append({"clip": path.name, "variant": variant, "quality": quality,
                             **point(codec, src, frames, quality, parse_variant(variant),
                                     args.passes)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    summary = {}
    for variant in variants:
        per_clip = {}
        for clip in sorted({r["clip"] for r in rows}):
            def curve(v):
                pts = [r for r in rows if r["clip"] == clip and r["variant"] == v]
                return [r["kbps"] for r in pts], [r["msssim"] for r in pts]
            per_clip[clip] = bd_rate(*curve(variants[0]), *curve(variant)).bd_rate
        values = [v for v in per_clip.values() if v is not None]
        summary[variant] = {"mean": round(float(np.mean(values)), 2),
                            "per_clip": {k: None if v is None else round(v, 2)
                                         for k, v in per_clip.items()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"frames": args.frames, "passes": args.passes,
                                          "against": variants[0],
                                          "bd_rate_msssim": summary, "rows": rows}, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

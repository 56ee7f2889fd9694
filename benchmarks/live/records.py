"""Where a live frame's bytes go: the FRAME records (format 10.0) of the live encoder on
clips, and what the same token levels would cost under other table choices.

    python benchmarks/live/records.py ../shared/data/val --quality 3 --frames 150 --json
                                              # benchmarks/val/live_records.json

Per clip: the FRAME records' sizes (median, min, max, in bytes with their 3 bytes of
framing), and the token residuals' ideal code length in bits a frame with (a) the adaptive
tables both ends follow (what FRAME records code), (b) a file's chunks of 25 frames, each
naming its best table per number (5 bits a number), (c) an oracle: each number's best table
over its whole run, named for free.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import imfcodec
from imfcodec.bench.live import live_stream
from imfcodec.bitstream import TokenChunk
from imfcodec.entropy import adaptive
from imfcodec.entropy.tables import MAX_RESIDUAL, cost_table
from imfcodec.live import LiveSettings


def runs_and_sizes(codec, frames, fps, quality):
    """The levels of each run's token frames, and each FRAME record's size."""
    stream = live_stream(codec, frames, fps, LiveSettings(quality=quality, interpolate=False))
    sizes = [len(p) for p, r in zip(stream.packets, stream.records)
             if isinstance(r, TokenChunk) and r.compact]
    return [np.stack(r.levels) for r in stream.runs if len(r.levels) > 1], sizes


def bits(runs) -> dict:
    costs = cost_table()
    total = {"adaptive": 0.0, "file_chunks": 0.0, "oracle_per_run": 0.0}
    for levels in runs:
        residuals = np.diff(levels, axis=0) + MAX_RESIDUAL
        state = adaptive.TableState(levels.shape[1])
        for row in residuals:
            total["adaptive"] += costs[state.tables(), row].sum()
            state.update(row - MAX_RESIDUAL)
        for start in range(0, len(residuals), 25):
            chunk = residuals[start : start + 25]
            total["file_chunks"] += sum(costs[:, chunk[:, d]].sum(axis=1).min() + 5
                                        for d in range(chunk.shape[1]))
        total["oracle_per_run"] += sum(costs[:, residuals[:, d]].sum(axis=1).min()
                                       for d in range(residuals.shape[1]))
    frames = sum(len(r) - 1 for r in runs)
    return {k: round(float(v) / max(1, frames), 1) for k, v in total.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+", help="folders of clips (val/) or clips")
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--out", default="benchmarks/val/live_records.json")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    paths = [p for given in map(Path, args.clips)
             for p in (sorted(given.glob("*.mp4")) if given.is_dir() else [given])]
    codec = imfcodec.Codec.load(device="cpu")
    rows = []
    for path in paths:
        side = codec.model.image_size
        src = codec.open(path, size=f"{side}x{side}")
        runs, sizes = runs_and_sizes(codec, src.read(args.frames), src.fps, args.quality)
        rows.append({"clip": path.name, "frame_records": len(sizes),
                     "bytes_median": float(np.median(sizes)), "bytes_min": min(sizes),
                     "bytes_max": max(sizes), "bits_per_frame": bits(runs)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    report = {"quality": args.quality, "frames": args.frames, "model": codec.model.name,
              "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report) if args.json else "\n".join(
        f"{r['clip'][:40]:40s} FRAME bytes median {r['bytes_median']:g} ({r['bytes_min']}.."
        f"{r['bytes_max']}); bits a frame {r['bits_per_frame']}" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

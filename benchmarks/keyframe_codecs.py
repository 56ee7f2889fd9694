"""Key frames alone: bytes against quality for x265 and SVT-AV1 intra (`--intra hevc|av1`).

    python benchmarks/keyframe_codecs.py ../shared/data/val [--stride N] [--json]
    python benchmarks/keyframe_codecs.py ../shared/data/val --stride 40 \\
        --hevc-tunings "preset=medium;preset=veryslow;preset=veryslow,tune=ssim"

Pictures of each clip (the first frame, or every --stride-th frame), at the model's 256x256,
coded and decoded by imfcodec/intra.py at each QP; each row is the mean over the pictures of
the picture's bytes (the key frame record adds a few more), its MS-SSIM and its PSNR against
the frame. With --hevc-tunings only x265 is swept, once per tuning (x265 options, ';'
between tunings), and each tuning's curve is compared with the first's by BD-rate.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from imfcodec import intra
from imfcodec.bench.bdrate import bd_rate
from imfcodec.io.reader import read_frames
from imfcodec.metrics import msssim, psnr
from imfcodec.train.data import find_clips

QPS = {intra.IntraCodec.HEVC: range(31, 52, 4), intra.IntraCodec.AV1: range(35, 64, 4)}


def pictures(path: Path, stride: int, size: int = 256) -> list[np.ndarray]:
    frames = read_frames(path, size)
    return list(itertools.islice(frames, 0, None, stride)) if stride else [next(iter(frames))]


def sweep(frames: list[np.ndarray], codecs=QPS, tuning: dict | None = None) -> list[dict]:
    rows = []
    for codec in codecs:
        for qp in QPS[codec]:
            sizes, ms, ps = [], [], []
            for frame in frames:
                data = intra.encode(frame, codec, qp, tuning)
                picture = intra.decode(data, codec)
                sizes.append(len(data))
                ms.append(msssim(frame, picture))
                ps.append(psnr(frame, picture))
            rows.append({"codec": codec.name.lower(), "qp": qp, "bytes": float(np.mean(sizes)),
                         "msssim": float(np.mean(ms)), "psnr": float(np.mean(ps))})
    return rows


def parse_tunings(text: str) -> list[dict]:
    return [dict(item.split("=", 1) for item in tuning.split(",")) for tuning in text.split(";")]


def compare_tunings(frames: list[np.ndarray], tunings: list[dict]) -> list[dict]:
    results = []
    for tuning in tunings:
        rows = sweep(frames, [intra.IntraCodec.HEVC], tuning)
        entry = {"tuning": tuning, "rows": rows}
        if results:
            base = results[0]["rows"]
            entry["bd_rate_vs_first"] = {
                m: bd_rate([r["bytes"] for r in base], [r[m] for r in base],
                           [r["bytes"] for r in rows], [r[m] for r in rows]).to_dict()
                for m in ("msssim", "psnr")}
        results.append(entry)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, help="a clip or a folder of clips")
    parser.add_argument("--stride", type=int, default=0,
                        help="every N-th frame of each clip (default: the first frame only)")
    parser.add_argument("--hevc-tunings", default=None,
                        help="x265 tunings to compare, e.g. 'preset=medium;preset=veryslow,tune=ssim'")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    frames = [f for p in find_clips(args.clips) for f in pictures(p, args.stride)]
    if args.hevc_tunings:
        results = compare_tunings(frames, parse_tunings(args.hevc_tunings))
        if args.json:
            print(json.dumps({"pictures": len(frames), "tunings": results}, indent=1))
            return
        print(f"{len(frames)} pictures")
        print("| x265 tuning | QP | bytes | MS-SSIM | PSNR (dB) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for entry in results:
            name = ", ".join(f"{k}={v}" for k, v in entry["tuning"].items())
            for r in entry["rows"]:
                print(f"| {name} | {r['qp']} | {r['bytes']:.0f} | {r['msssim']:.4f} | {r['psnr']:.2f} |")
        for entry in results[1:]:
            bd = entry["bd_rate_vs_first"]
            print(f"{entry['tuning']}: BD-rate against the first, MS-SSIM "
                  f"{bd['msssim']['bd_rate_percent']:+.1f} %, PSNR {bd['psnr']['bd_rate_percent']:+.1f} %")
        return
    rows = sweep(frames)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| codec | QP | bytes | MS-SSIM | PSNR (dB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['codec']} | {r['qp']} | {r['bytes']:.0f} | {r['msssim']:.4f} | {r['psnr']:.2f} |")


if __name__ == "__main__":
    main()

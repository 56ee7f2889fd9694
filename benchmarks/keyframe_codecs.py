"""Key frames alone: bytes against quality for x265 and SVT-AV1 intra (`--intra hevc|av1`).

    python benchmarks/keyframe_codecs.py ../shared/data/val [--json]

The first frame of each clip, at the model's 256x256, coded and decoded by imfcodec/intra.py
at each QP; each row is the mean over the clips of the picture's bytes (the key frame record
adds a few more), its MS-SSIM and its PSNR against the frame.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from imfcodec import intra
from imfcodec.io.reader import read_frames
from imfcodec.metrics import msssim, psnr
from imfcodec.train.data import find_clips

QPS = {intra.IntraCodec.HEVC: range(31, 52, 4), intra.IntraCodec.AV1: range(35, 64, 4)}


def first_frame(path: Path, size: int = 256) -> np.ndarray:
    return next(iter(read_frames(path, size)))


def sweep(frames: list[np.ndarray]) -> list[dict]:
    rows = []
    for codec, qps in QPS.items():
        for qp in qps:
            sizes, ms, ps = [], [], []
            for frame in frames:
                data = intra.encode(frame, codec, qp)
                picture = intra.decode(data, codec)
                sizes.append(len(data))
                ms.append(msssim(frame, picture))
                ps.append(psnr(frame, picture))
            rows.append({"codec": codec.name.lower(), "qp": qp, "bytes": float(np.mean(sizes)),
                         "msssim": float(np.mean(ms)), "psnr": float(np.mean(ps))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, help="a clip or a folder of clips")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = sweep([first_frame(p) for p in find_clips(args.clips)])
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| codec | QP | bytes | MS-SSIM | PSNR (dB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['codec']} | {r['qp']} | {r['bytes']:.0f} | {r['msssim']:.4f} | {r['psnr']:.2f} |")


if __name__ == "__main__":
    main()

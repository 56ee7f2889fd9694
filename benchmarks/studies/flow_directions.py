"""How many directions a motion dictionary needs: the warp's reach without quantisation.

Builds one dictionary from the training clips (motion/dictionary.py, as `imfcodec dictionary`
does), then for each K keeps its first K directions and, on every frame of each held-out clip,
warps the clip's first frame (coded by x265 intra at --qp) by the frame's projected flow.
Prints the mean MS-SSIM per K beside showing the key frame alone. No entropy coding: this is
the ceiling of each K; `imfcodec bench` measures the real rate and quality.

    python benchmarks/studies/flow_directions.py ../shared/data/train ../shared/data/val --k 16,32,64
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from imfcodec import intra
from imfcodec.metrics import msssim_frames
from imfcodec.motion import dictionary as md
from imfcodec.motion.flow import FlowConfig, FlowMotion
from imfcodec.source import Source
from imfcodec.train.dictionary import clips_in


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("val", type=Path)
    parser.add_argument("--k", default="16,32,64", help="Directions to measure.")
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--pairs-per-clip", type=int, default=160)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--qp", type=int, default=35, help="x265 intra QP of the key frame.")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.k.split(",")]
    t0 = time.perf_counter()
    coarse = md.gather(md.read_clips(clips_in(args.train), 256), args.grid, args.pairs_per_clip,
                       args.preset)
    full = md.principal(coarse, max(ks))
    total = md.total_variance(coarse)
    print(f"{len(coarse)} flows in {time.perf_counter() - t0:.0f} s")
    models = {k: FlowMotion(full.truncated(k), FlowConfig(grid=args.grid, directions=k,
                                                          preset=args.preset), f"k{k}", bytes(16))
              for k in ks}
    still, found = [], {k: [] for k in ks}
    for path in clips_in(args.val):
        frames = Source.open(path).read()
        key = intra.decode(intra.encode(frames[0], intra.IntraCodec.HEVC, args.qp), intra.IntraCodec.HEVC)
        still.append(float(np.mean(msssim_frames(frames, [key] * len(frames)))))
        for k, model in models.items():
            ref = model.reference(key)
            shown = []
            for i in range(0, len(frames), 8):
                shown.extend(model.synthesise(ref, model.analyse(frames[i : i + 8], ref)))
            found[k].append(float(np.mean(msssim_frames(frames, shown))))
        print(path.name, f"still {still[-1]:.4f}", " ".join(f"K={k} {v[-1]:.4f}" for k, v in found.items()))
    report = {"clips": len(still), "qp": args.qp, "grid": args.grid, "flows": len(coarse),
              "key_frame_alone": round(float(np.mean(still)), 4),
              "msssim": {k: round(float(np.mean(v)), 4) for k, v in found.items()},
              "explained_variance": {k: round(float(full.variance[:k].sum() / total), 4) for k in ks}}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""Choose the default refresh threshold of `--adaptive` by measurement.

    python benchmarks/adaptive_sweep.py ../shared/data/val --frames 100 --qualities 0,3,6 \
        --thresholds 16,18,20,22,24

For each threshold (PSNR of the rebuilt frame, dB), every clip is coded at each quality with
closed-loop refresh (the other adaptive settings at their defaults) and compared with the
single-key-frame mode by BD-rate over the mean curves, in PSNR and MS-SSIM. The threshold with
the lowest MS-SSIM BD-rate is the one to put in imfcodec/quality.py (ADAPTIVE).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from imfcodec import quality
from imfcodec.bench import rd
from imfcodec.bench.bdrate import bd_rate
from imfcodec.models import weights
from imfcodec.train.data import find_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--qualities", default="0,3,6")
    parser.add_argument("--thresholds", default="16,18,20,22,24")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    loaded = weights.load(args.model)
    qualities = [int(q) for q in args.qualities.split(",")]
    clips = [rd.load_clip(p, loaded.model.cfg.image_size, args.frames)
             for arg in args.clips for p in find_clips(arg)]
    tokens = {clip.name: rd.encode_tokens(clip, loaded) for clip in clips}  # shared by every run
    single = [row for clip in clips
              for row in rd.sweep_imf(clip, loaded, qualities, "imf", tokens=tokens[clip.name])]
    base = rd.mean_curves(single)["imf"]
    results = {}
    for threshold in [float(t) for t in args.thresholds.split(",")]:
        defaults = replace(quality.ADAPTIVE, refresh_threshold=threshold)
        rows = [row for clip in clips
                for row in rd.sweep_imf(clip, loaded, qualities, "imf-adaptive", defaults,
                                        tokens[clip.name])]
        curve = rd.mean_curves(rows)["imf-adaptive"]
        results[threshold] = {
            metric: bd_rate([p["kbps"] for p in base], [p[metric] for p in base],
                            [p["kbps"] for p in curve], [p[metric] for p in curve]).to_dict()
            for metric in ("psnr", "msssim")
        } | {"curve": curve}
        print(threshold, json.dumps({m: results[threshold][m] for m in ("psnr", "msssim")}), flush=True)
    print(json.dumps({"single": base, "adaptive": results}, indent=1))


if __name__ == "__main__":
    main()

"""Choose the refresh rule of `--adaptive` and its constant by measurement.

    python benchmarks/studies/adaptive_sweep.py ../shared/data/val --frames 100 --qualities 0,3,6 \
        --thresholds 20 --lambdas 30,300,3000 --out benchmarks/studies/results/val/adaptive_sweep.json

Every clip is coded at each quality with one key frame (the single-key-frame mode), and with
closed-loop refresh under each rule: a PSNR threshold (dB) or the rate-distortion test with a
lambda scale (imfcodec/refresh.py: refresh_lambda_at), each at every minimum gap of --gaps
(seconds between a key frame and the next refresh; default the shipped one); the other
adaptive settings keep their defaults. Each rule's mean curve is compared by BD-rate, in PSNR and MS-SSIM, with the
single-key-frame curve and with the first rule's curve (where the curves overlap in quality).
The rule with the lowest MS-SSIM BD-rate is the one to put in imfcodec/options.py (ADAPTIVE).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from imfcodec import options as encode_options
from imfcodec.bench import rd
from imfcodec.bench.bdrate import bd_rate
from imfcodec.codec import Codec
from imfcodec.train.data import find_clips

METRICS = ("psnr", "msssim")


def compare(anchor: list[dict], curve: list[dict]) -> dict:
    return {m: bd_rate([p["kbps"] for p in anchor], [p[m] for p in anchor],
                       [p["kbps"] for p in curve], [p[m] for p in curve]).to_dict()
            for m in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--qualities", default="0,3,6")
    parser.add_argument("--thresholds", default="20", help="PSNR thresholds (dB), comma-separated")
    parser.add_argument("--lambdas", default="30,300,3000", help="R-D lambda scales, comma-separated")
    parser.add_argument("--gaps", default="",
                        help="minimum refresh gaps (seconds), comma-separated; each is tried with "
                             "every rule (default: the shipped gap only)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    codec = Codec.load(args.model)
    loaded = codec.model
    qualities = [int(q) for q in args.qualities.split(",")]
    clips = [rd.load_clip(p, loaded.image_size, args.frames)
             for arg in args.clips for p in find_clips(arg)]
    tokens = {clip.name: rd.encode_tokens(clip, codec) for clip in clips}  # shared by every run
    single = [row for clip in clips
              for row in rd.sweep_imf(clip, codec, qualities, "imf", tokens=tokens[clip.name])]
    base = rd.mean_curves(single)["imf"]
    print("single", json.dumps([(p["setting"], round(p["kbps"], 2), round(p["psnr"], 2),
                                 round(p["msssim"], 4)) for p in base]), flush=True)
    rules = [(f"threshold {t}", dict(refresh_threshold=float(t), refresh_lambda=None))
             for t in args.thresholds.split(",") if t]
    rules += [(f"lambda {x}", dict(refresh_threshold=None, refresh_lambda=float(x)))
              for x in args.lambdas.split(",") if x]
    gaps = [float(g) for g in args.gaps.split(",") if g]
    if gaps:
        rules = [(f"{name}, gap {g:g} s", dict(rule, min_refresh_seconds=g))
                 for g in gaps for name, rule in rules]
    results, first = {}, None
    for name, rule in rules:
        defaults = replace(encode_options.ADAPTIVE, **rule)
        rows = [row for clip in clips
                for row in rd.sweep_imf(clip, codec, qualities, "imf-adaptive", defaults,
                                        tokens[clip.name])]
        curve = rd.mean_curves(rows)["imf-adaptive"]
        first = first or curve
        results[name] = {"curve": curve, "vs_single": compare(base, curve),
                         "vs_first_rule": compare(first, curve)}
        print(name, json.dumps([(p["setting"], round(p["kbps"], 2), round(p["psnr"], 2),
                                 round(p["msssim"], 4)) for p in curve]),
              json.dumps({k: {m: v[m]["bd_rate_percent"] for m in METRICS}
                          for k, v in results[name].items() if k != "curve"}), flush=True)
    report = {"model": loaded.name, "digest": loaded.digest.hex(), "frames": args.frames,
              "clips": [c.name for c in clips], "single": base, "adaptive": results}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

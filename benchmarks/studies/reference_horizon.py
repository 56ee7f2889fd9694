"""Tuning the refresh horizon of several references (issue 28) on a set of clips: adaptive
refresh with R references at a given refresh horizon, against R = 1, as BD-rate over the mean
curves of the clips.

    python benchmarks/studies/reference_horizon.py CLIPS... --references 4 --horizon 2 \
        --qualities 1,3,5,7 --frames 250 --out /tmp/h2.json
    python benchmarks/studies/reference_horizon.py CLIPS... --references 1 --out /tmp/r1.json
    python benchmarks/studies/reference_horizon.py --compare /tmp/r1.json /tmp/h2.json

Each clip's first ``--frames`` frames run through the real encoder and decoder at each level
(as `imfcodec.bench.rd.sweep_imf` runs mode imf-adaptive, centred key frames), with the
run's `options.Tuning(refresh_horizon=--horizon, switch_gain=--switch-gain)` in every
encode's options (one horizon for the run: the encoder judges a refresh over the same time
whatever the reference count) and `--refresh-lambda` as `--adaptive`'s lambda scale. The
refresh test is linear in its horizon, so a horizon of H seconds is the same test as the
1-second one with the lambda divided by H. ``--compare`` prints each run's BD-rate (MS-SSIM
and PSNR) against the first, over the mean curves and per clip. Tune on train/ clips; check
on val/. Results of the study: benchmarks/studies/results/train/reference_horizon_*.json
(written before the horizon was an option, under the key ``held_horizon``: the horizon of
R > 1 runs; R = 1 runs then always used 1 s).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from imfcodec.bench import rd
from imfcodec.bench.bdrate import bd_rate
from imfcodec.codec import Codec
from imfcodec.options import ADAPTIVE, Tuning


def mean_curve(rows: list[dict]) -> list[dict]:
    """A run's rows (dicts) -> its mean curve over the clips, as the bench makes it."""
    return rd.mean_curves([rd.Row(**r) for r in rows])["imf-adaptive"]


def bd(anchor: list[dict], test: list[dict], metric: str) -> float | None:
    return bd_rate([p["kbps"] for p in anchor], [p[metric] for p in anchor],
                   [p["kbps"] for p in test], [p[metric] for p in test]).bd_rate


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def compare(paths: list[Path]) -> None:
    runs = [json.loads(p.read_text()) for p in paths]
    anchor = runs[0]["rows"]
    base = mean_curve(anchor)
    for path, run in zip(paths, runs):
        curve = mean_curve(run["rows"])
        text = " ".join(f"{p['kbps']:.2f}/{p['msssim']:.4f}" for p in curve)
        lam = run.get("refresh_lambda", ADAPTIVE.refresh_lambda)  # the default unless a run says
        horizon = run.get("horizon", run.get("held_horizon"))  # older runs: held_horizon
        line = f"{path.name}: R={run['references']} horizon {horizon} s " \
               f"switch gain {run['switch_gain']} lambda {lam:g}  {text}"
        if path != paths[0]:
            line += f"  BD-rate MS-SSIM {percent(bd(base, curve, 'msssim'))}, PSNR {percent(bd(base, curve, 'psnr'))}"
            clips = sorted({r["clip"] for r in run["rows"]})
            per = []
            for clip in clips:
                a = mean_curve([r for r in anchor if r["clip"] == clip])
                t = mean_curve([r for r in run["rows"] if r["clip"] == clip])
                per.append(f"{clip[:16]} {percent(bd(a, t, 'msssim'))}")
            line += "\n    per clip (MS-SSIM): " + ", ".join(per)
        print(line)


def sweep(clip, codec: Codec, qualities: list[int], references: int, tuning: Tuning,
          refresh_lambda: float) -> list[rd.Row]:
    """imf-adaptive rows of one clip at each level, the run's tuning in every encode."""
    adaptive = replace(ADAPTIVE, refresh_lambda=refresh_lambda)
    return rd.sweep_imf(clip, codec, qualities, "imf-adaptive", adaptive, references=references,
                        tuning=tuning)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, nargs="*")
    parser.add_argument("--references", type=int, default=4)
    parser.add_argument("--horizon", type=float, default=Tuning().refresh_horizon,
                        help="seconds a refresh is judged over (options.Tuning.refresh_horizon)")
    parser.add_argument("--switch-gain", type=float, default=Tuning().switch_gain,
                        help="options.Tuning.switch_gain")
    parser.add_argument("--refresh-lambda", type=float, default=ADAPTIVE.refresh_lambda,
                        help="the R-D refresh's lambda scale (--adaptive's default unless given)")
    parser.add_argument("--qualities", default="1,3,5,7")
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--model", default="imf-flow")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.compare)
        return 0
    if not args.clips or args.out is None:
        parser.error("give clips and --out (or --compare)")
    tuning = Tuning(refresh_horizon=args.horizon, switch_gain=args.switch_gain)
    codec = Codec.load(args.model)
    qualities = [int(q) for q in args.qualities.split(",")]
    rows = []
    for path in args.clips:
        clip = rd.load_clip(path, codec.model.image_size, args.frames)
        found = sweep(clip, codec, qualities, args.references, tuning, args.refresh_lambda)
        rows += [r.to_dict() for r in found]
        print(path.name, " ".join(f"{r.setting} {r.kbps:.2f}/{r.msssim:.4f}" for r in found), flush=True)
    args.out.write_text(json.dumps({"references": args.references, "horizon": args.horizon,
                                    "switch_gain": args.switch_gain,
                                    "refresh_lambda": args.refresh_lambda, "qualities": qualities,
                                    "frames": args.frames, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tuning the refresh horizon of several references (issue 28) on a set of clips: adaptive
refresh with R references at a given held horizon, against R = 1, as BD-rate over the mean
curves of the clips.

    python benchmarks/reference_horizon.py CLIPS... --references 4 --held-horizon 2 \
        --qualities 1,3,5,7 --frames 250 --out /tmp/h2.json
    python benchmarks/reference_horizon.py CLIPS... --references 1 --out /tmp/r1.json
    python benchmarks/reference_horizon.py --compare /tmp/r1.json /tmp/h2.json

Each clip's first ``--frames`` frames run through the real encoder and decoder at each level
(`imfcodec.bench.rd.sweep_imf`, mode imf-adaptive, centred key frames), with
`refresh.HELD_HORIZON_SECONDS` and `encoder.SWITCH_GAIN` set for the run. The refresh test
is linear in its horizon, so a horizon of H seconds is the same test as the 1-second one
with the lambda divided by H. ``--compare`` prints each run's BD-rate (MS-SSIM and PSNR)
against the first, over the mean curves and per clip. Tune on train/ clips; check on val/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imfcodec import encoder, refresh  # noqa: E402
from imfcodec.bench import rd  # noqa: E402
from imfcodec.bench.bdrate import bd_rate  # noqa: E402
from imfcodec.codec import Codec  # noqa: E402
from imfcodec.options import ADAPTIVE  # noqa: E402


def mean_curve(rows: list[dict]) -> list[dict]:
    """A run's rows (dicts) -> its mean curve over the clips, as the bench makes it."""
    return rd.mean_curves([rd.Row(**r) for r in rows])["imf-adaptive"]


def bd(anchor: list[dict], test: list[dict], metric: str) -> float | None:
    return bd_rate([p["kbps"] for p in anchor], [p[metric] for p in anchor],
                   [p["kbps"] for p in test], [p[metric] for p in test]).bd_rate


def compare(paths: list[Path]) -> None:
    runs = [json.loads(p.read_text()) for p in paths]
    anchor = runs[0]["rows"]
    base = mean_curve(anchor)
    for path, run in zip(paths, runs):
        curve = mean_curve(run["rows"])
        text = " ".join(f"{p['kbps']:.2f}/{p['msssim']:.4f}" for p in curve)
        lam = run.get("refresh_lambda", ADAPTIVE.refresh_lambda)  # the default unless a run says
        line = f"{path.name}: R={run['references']} horizon {run['held_horizon']} s " \
               f"switch gain {run['switch_gain']} lambda {lam:g}  {text}"
        if path != paths[0]:
            line += f"  BD-rate MS-SSIM {bd(base, curve, 'msssim'):+.1f} %, PSNR {bd(base, curve, 'psnr'):+.1f} %"
            clips = sorted({r["clip"] for r in run["rows"]})
            per = []
            for clip in clips:
                a = mean_curve([r for r in anchor if r["clip"] == clip])
                t = mean_curve([r for r in run["rows"] if r["clip"] == clip])
                value = bd(a, t, "msssim")
                per.append(f"{clip[:16]} {value:+.1f}" if value is not None else f"{clip[:16]} n/a")
            line += "\n    per clip (MS-SSIM): " + ", ".join(per)
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, nargs="*")
    parser.add_argument("--references", type=int, default=4)
    parser.add_argument("--held-horizon", type=float, default=refresh.HELD_HORIZON_SECONDS)
    parser.add_argument("--switch-gain", type=float, default=encoder.SWITCH_GAIN)
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
    refresh.HELD_HORIZON_SECONDS = args.held_horizon
    encoder.SWITCH_GAIN = args.switch_gain
    codec = Codec.load(args.model)
    qualities = [int(q) for q in args.qualities.split(",")]
    rows = []
    for path in args.clips:
        clip = rd.load_clip(path, codec.model.image_size, args.frames)
        found = rd.sweep_imf(clip, codec, qualities, mode="imf-adaptive", references=args.references)
        rows += [r.to_dict() for r in found]
        print(path.name, " ".join(f"{r.setting} {r.kbps:.2f}/{r.msssim:.4f}" for r in found), flush=True)
    args.out.write_text(json.dumps({"references": args.references, "held_horizon": args.held_horizon,
                                    "switch_gain": args.switch_gain, "qualities": qualities,
                                    "frames": args.frames, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much several references could give (issue 28), before building them: an oracle.

    python benchmarks/studies/reference_oracle.py ../shared/data/val --quality 3 --references 1,2,4 --json

Each clip is encoded as `imfcodec encode --adaptive` does (the default model, centred key
frames, predicted refreshes), and its key frames are decoded exactly as a decoder would. Then
every frame is rebuilt again from each of the last R key frames the decoder holds when the
frame is shown (the key frame of its run and the R - 1 sent before it): the frame analysed
against that key frame, its token quantised with the level's step, synthesised. The oracle
keeps, per frame, the rebuild with the lowest error, as an encoder that sends a reference
index would (the index itself, at most 2 bits a frame, is not counted). Reported: mean
PSNR and MS-SSIM of R = 1 (the key frame of the frame's run: today's decoder) and of the
best of R, and the share of frames whose best reference is not their run's. The key frames
and the rate stay as R = 1 chose them, so this measures what better references buy at the
same rate, not what rarer refreshes would save.

    python benchmarks/studies/reference_oracle.py --bd benchmarks/studies/results/val/reference_oracle_q*.json

reads one report per level and gives the BD-rate of the best-of-R curve against R = 1's (the
mean rate and quality over the clips at each level): what free per-frame choice could give,
at most, in the issue's measure, with the key frames (and so the rate) R = 1 chose.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from imfcodec.bench.keyframes import held_keys
from imfcodec.codec import Codec
from imfcodec.entropy import quantize as quant
from imfcodec.metrics import msssim_frames, psnr
from imfcodec.source import Source


def bd_bound(reports: list[Path]) -> dict:
    """BD-rates of the best-of-R curves against R = 1's, from one report per level."""
    from imfcodec.bench.bdrate import bd_rate

    means = sorted((json.loads(path.read_text())["mean"] for path in reports), key=lambda m: m["kbps"])
    rates = [m["kbps"] for m in means]
    out = {"levels": len(means), "kbps": rates}
    for size in sorted({int(k[1:].split("_")[0]) for k in means[0] if k.startswith("R")} - {1}):
        for metric in ("msssim", "psnr"):
            result = bd_rate(rates, [m[f"R1_{metric}"] for m in means], rates,
                             [m[f"R{size}_{metric}"] for m in means])
            out[f"R{size}_{metric}_bd_rate_percent"] = result.bd_rate
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, nargs="?")
    parser.add_argument("--bd", type=Path, nargs="+", help="reports to sum up instead")
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--references", default="1,2,4")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.bd:
        print(json.dumps(bd_bound(args.bd), indent=1))
        return 0
    if args.clips is None:
        parser.error("give CLIPS, or --bd REPORTS")
    sizes = [int(r) for r in args.references.split(",")]
    codec = Codec.load()
    model = codec.model
    rows = []
    for path in sorted(args.clips.glob("*.mp4")):
        clip = Source.open(path, model.image_size)
        frames = clip.read()
        stream = codec.encode(clip, quality=args.quality, adaptive=True, audio=None)
        keys, owner = held_keys(stream.data)
        grid = quant.unit(stream.header.token_step, model.token_scale)
        refs = [model.reference(picture) for _, picture in keys]
        key_index = {index for index, _ in keys}
        # error of every frame rebuilt from each key frame it could use (the run's and up to
        # max(sizes) - 1 before it)
        best = {r: [] for r in sizes}
        other = {r: 0 for r in sizes}
        for f, frame in enumerate(frames):
            run = owner[f]
            if f in key_index and keys[run][0] == f:
                for r in sizes:
                    best[r].append(keys[run][1])
                continue
            candidates = list(range(run, max(-1, run - max(sizes)), -1))
            rebuilt = []
            for k in candidates:
                token = model.analyse([frame], refs[k])
                levels = quant.quantize(token, grid)
                rebuilt.append(model.synthesise(refs[k], quant.dequantize(levels, grid))[0])
            errors = [float(np.mean((frame.astype(np.float32) - x) ** 2)) for x in rebuilt]
            for r in sizes:
                choice = int(np.argmin(errors[:r]))
                best[r].append(rebuilt[choice])
                other[r] += choice != 0
        row = {"clip": path.name, "frames": len(frames), "key_frames": len(keys),
               "kbps": round(stream.stats.kbps, 3)}
        for r in sizes:
            row[f"R{r}_psnr"] = round(float(np.mean([psnr(a, b) for a, b in zip(frames, best[r])])), 3)
            row[f"R{r}_msssim"] = round(float(np.mean(msssim_frames(frames, best[r]))), 4)
            row[f"R{r}_other_reference_share"] = round(other[r] / len(frames), 3)
        rows.append(row)
        print(row, file=sys.stderr)
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0] if k != "clip"}
    report = {"quality": args.quality, "rows": rows, "mean": mean,
              "command": f"python benchmarks/studies/reference_oracle.py CLIPS --quality {args.quality} "
                         f"--references {args.references}"}
    print(json.dumps(report, indent=1) if args.json else report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

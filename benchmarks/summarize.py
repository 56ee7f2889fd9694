"""Markdown tables from a bench run's results.json: the mean rate-distortion points of every
codec and setting, and the BD-rates of the imfcodec modes against the anchors (and against
SVT-AV1's envelope over its sizes, `svtav1-best`), of the mean curves and per clip.

    python benchmarks/summarize.py benchmarks/val/results.json > benchmarks/val/summary.md

benchmarks/README.md and docs/model-card.md quote this output; nothing in them is typed by
hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from imfcodec.bench.results import METRICS, bd_cell, bd_quality_cell, mean_bd_cell, plotted
from imfcodec.metrics import NAMES, formatted


def rd_table(summary: dict) -> list[str]:
    # frame-to-frame PSNR of the decoded video (source's: the same for every row of a bench)
    metrics = plotted(summary["mean_curves"])
    lines = ["| codec | setting | kbps | " + " | ".join(METRICS[m] for m in metrics)
             + " | frame-to-frame PSNR (dB) | encode fps | decode fps |",
             "| --- | --- | ---: |" + " ---: |" * (len(metrics) + 3)]
    for codec, points in summary["mean_curves"].items():
        for p in sorted(points, key=lambda p: p["kbps"]):
            f2f = f"{p['f2f_psnr']:.2f}" if "f2f_psnr" in p else "n/a"
            lines.append(f"| {codec} | {p['setting']} | {p['kbps']:.2f} | "
                         + " | ".join(formatted(p[m], m) for m in metrics)
                         + f" | {f2f} | {p['encode_fps']:.1f} | {p['decode_fps']:.1f} |")
    sources = [p["source_f2f_psnr"] for points in summary["mean_curves"].values() for p in points
               if "source_f2f_psnr" in p]
    if sources:
        lines.append(f"\nFrame-to-frame PSNR of the source clips: {sources[0]:.2f} dB.")
    sound = [p["audio_kbps"] for points in summary["mean_curves"].values() for p in points
             if p.get("audio_kbps")]
    if sound:
        lines.append(f"\nkbps is the video's; the clips' sound, coded as `imfcodec encode` codes it "
                     f"by default, adds {sound[0]:.2f} kbps on average to every imfcodec row.")
    return lines


def _table(table: dict, metrics: list[str], cell, what: str) -> list[str]:
    lines = ["| imfcodec mode | anchor | " + " | ".join(f"{what} {NAMES[m]}" for m in metrics) + " |",
             "| --- | --- |" + " --- |" * len(metrics)]
    for test, anchors in table.items():
        for anchor, result in anchors.items():
            lines.append(f"| {test} | {anchor} | "
                         + " | ".join(cell(result[m], m) if m in result else "n/a" for m in metrics)
                         + " |")
    return lines


def bd_rate_table(summary: dict) -> list[str]:
    return _table(summary["bd_rate"], plotted(summary["mean_curves"]), lambda r, m: bd_cell(r),
                  "BD-rate in")


def per_clip_table(summary: dict) -> list[str]:
    return _table(summary["bd_rate_per_clip"]["mean"], plotted(summary["mean_curves"]),
                  lambda r, m: mean_bd_cell(r), "BD-rate in")


def bd_quality_table(summary: dict) -> list[str]:
    return _table(summary["bd_rate"], plotted(summary["mean_curves"]), bd_quality_cell, "BD-")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results.json written by imfcodec bench")
    args = parser.parse_args(argv)
    summary = json.loads(args.results.read_text())
    models = summary.get("models") or [summary.get("model") or {}]  # ("model": older benches)
    clips = summary["clips"]
    weights = ", ".join(f"{m.get('name', 'n/a')} (digest {m.get('digest', 'n/a')})" for m in models)
    print(f"Mean over {len(clips)} clip(s); imfcodec weights: {weights}.\n")
    print("\n".join(rd_table(summary)))
    print("\nBD-rate (negative: the imfcodec mode needs fewer bits for the same quality), over "
          "the overlapping quality range:\n")
    print("\n".join(bd_rate_table(summary)))
    if "bd_rate_per_clip" in summary:
        print("\nBD-rate per clip, against each clip's own curves and SVT-AV1 envelope (the user "
              "who picks the best size for each clip), mean over the clips where the curves "
              "overlap:\n")
        print("\n".join(per_clip_table(summary)))
    print("\nBD-quality (mean quality gain at equal rate; positive: the imfcodec mode is better), "
          "over the overlapping rate range:\n")
    print("\n".join(bd_quality_table(summary)))


if __name__ == "__main__":
    main()

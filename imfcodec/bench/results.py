"""The bench's outputs: results.json / .csv, RD plots, the BD-rate table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .bdrate import bd_rate
from .rd import IMF_MODES, Row, mean_curves

METRICS = {"psnr": "PSNR (dB)", "msssim": "MS-SSIM"}


def ours(folder: Path) -> bool:
    """Whether a folder is an earlier bench's output (safe to replace under --force)."""
    return (folder / "results.json").exists()


def bd_table(curves: dict[str, list[dict]], ours: list[str]) -> dict:
    """BD-rate of each imfcodec curve (``ours``, in order) against every other curve, in PSNR
    and MS-SSIM; of two imfcodec curves the later is the test, the earlier its anchor:
    {test: {anchor: {metric: result}}}."""
    table = {}
    for test in (t for t in ours if t in curves):
        table[test] = {}
        for anchor, points in curves.items():
            if anchor == test or anchor in ours[ours.index(test) + 1 :]:
                continue
            table[test][anchor] = {}
            for metric in METRICS:
                result = bd_rate([p["kbps"] for p in points], [p[metric] for p in points],
                                 [p["kbps"] for p in curves[test]], [p[metric] for p in curves[test]])
                table[test][anchor][metric] = result.to_dict()
    return table


def plot(curves: dict[str, list[dict]], metric: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    for codec, points in curves.items():
        ax.plot([p["kbps"] for p in points], [p[metric] for p in points], marker="o", label=codec)
    ax.set_xscale("log")
    ax.set_xlabel("rate (kbps, log scale)")
    ax.set_ylabel(METRICS[metric])
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(rows: list[Row], out: Path, models: list[dict] | None = None, refine_steps: int = 0,
          key_placement: str = "centre", ours: list[str] | None = None,
          references: list[int] = (1,)) -> dict:
    """Writes every output file into ``out``; returns the JSON summary.

    ``models`` name the imfcodec weights measured (name, digest), ``ours`` the rows' names of
    imfcodec's curves (default: the imf modes), and ``refine_steps`` and ``key_placement``
    the encoder's settings, so published numbers say what made them.
    """
    out.mkdir(parents=True, exist_ok=True)
    curves = mean_curves(rows)
    bd = bd_table(curves, list(ours or IMF_MODES))
    clips = sorted({r.clip for r in rows})
    summary = {"clips": clips, "models": models or [], "refine_steps": refine_steps,
               "key_placement": key_placement, "references": list(references), "rows": [r.to_dict() for r in rows],
               "mean_curves": curves, "bd_rate": bd}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].to_dict()))
        writer.writeheader()
        for r in rows:
            writer.writerow(r.to_dict())
    (out / "bd_rate.json").write_text(json.dumps(bd, indent=1))
    n = len(clips)
    for metric in METRICS:
        plot(curves, metric, out / f"rd_{metric}.png", f"mean over {n} clip(s)")
    per_clip = out / "per_clip"
    per_clip.mkdir(exist_ok=True)
    for clip in clips:
        clip_curves = mean_curves([r for r in rows if r.clip == clip])
        for metric in METRICS:
            plot(clip_curves, metric, per_clip / f"{Path(clip).stem}_{metric}.png", clip)
    return summary


def render(summary: dict) -> None:
    from rich.table import Table

    from ..console import console

    curves = summary["mean_curves"]
    sound = any(p.get("audio_kbps") for points in curves.values() for p in points)
    table = Table(title="mean over clips (kbps: video; the sound's beside it, not in it)"
                  if sound else "mean over clips")
    columns = ("codec", "setting", "kbps") + (("audio kbps",) if sound else ()) + \
        ("PSNR", "MS-SSIM", "enc fps", "dec fps")
    for col in columns:
        table.add_column(col, justify="left" if col in ("codec", "setting") else "right")
    for codec, points in curves.items():
        for p in points:
            audio = (f"{p.get('audio_kbps', 0):.2f}",) if sound else ()
            table.add_row(codec, p["setting"], f"{p['kbps']:.2f}", *audio, f"{p['psnr']:.2f}",
                          f"{p['msssim']:.4f}", f"{p['encode_fps']:.1f}", f"{p['decode_fps']:.1f}")
    console.print(table)
    console.print(_bd_table("BD-rate (negative: the imfcodec mode needs fewer bits than the anchor)",
                            summary, lambda r, m: bd_cell(r)))
    console.print(_bd_table("BD-quality (mean gain at equal rate; positive: the imfcodec mode is "
                            "better)", summary, bd_quality_cell))


def _bd_table(title: str, summary: dict, cell):
    """One row per imfcodec mode and anchor, one column per metric: ``cell(result, metric)``."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("imfcodec", "anchor", "PSNR", "MS-SSIM"):
        table.add_column(col)
    for test, anchors in summary["bd_rate"].items():
        for anchor, result in anchors.items():
            table.add_row(test, anchor, *[cell(result[m], m) for m in METRICS])
    return table


def bd_cell(r: dict) -> str:
    if r["bd_rate_percent"] is None:
        return r["note"]
    lo, hi = r["overlap"]
    return f"{r['bd_rate_percent']:+.1f}% (over {lo:.3g}..{hi:.3g})"


def bd_quality_cell(r: dict, metric: str) -> str:
    """The mean quality difference at equal rate (BD-PSNR, or its MS-SSIM twin)."""
    if "rate_overlap" not in r:
        return "n/a (results from an older bench)"
    if r["bd_quality"] is None:
        return "the curves do not overlap in rate"
    lo, hi = r["rate_overlap"]
    value = f"{r['bd_quality']:+.2f} dB" if metric == "psnr" else f"{r['bd_quality']:+.4f}"
    return f"{value} (over {lo:.3g}..{hi:.3g} kbps)"

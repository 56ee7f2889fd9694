"""The bench's outputs: results.json / .csv, RD plots, the BD-rate tables.

Anchors are every curve that is not the imfcodec mode under test, and the upper envelope of an
anchor measured at several sizes ("svtav1-best": SVT-AV1 at whichever size gives the best
quality at each rate, envelope.py), one envelope per metric. BD-rates are given two ways: of
the curves averaged over the clips (each setting's mean rate and quality), and per clip
against that clip's own curves and envelope, then averaged (``bd_rate_per_clip``): the
second is the user who picks the best size for each clip.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from ..metrics import NAMES, VMAF_MODELS, formatted
from .anchors import ANCHORS
from .bdrate import BDResult, bd_rate
from .envelope import BEST_SUFFIX, envelope, scaled_family
from .rd import IMF_MODES, Row, mean_curves

METRICS = {"psnr": "PSNR (dB)", "msssim": "MS-SSIM", "vmaf": f"VMAF ({VMAF_MODELS['vmaf']})",
           "vmaf_neg": f"VMAF-NEG ({VMAF_MODELS['vmaf_neg']})"}


def ours(folder: Path) -> bool:
    """Whether a folder is an earlier bench's output (safe to replace under --force)."""
    return (folder / "results.json").exists()


def _measured(points: list[dict], metric: str) -> bool:
    return bool(points) and all(math.isfinite(p.get(metric, math.nan)) for p in points)


def envelopes(curves: dict[str, list[dict]]) -> dict[str, dict[str, list[dict]]]:
    """For each anchor measured at more than one size, its upper envelope in each metric:
    {"svtav1-best": {metric: [{"kbps", "value", "from"}]}} (envelope.envelope)."""
    out = {}
    for base in ANCHORS:
        family = scaled_family(list(curves), base)
        if len(family) < 2:
            continue
        out[base + BEST_SUFFIX] = {
            metric: [p.to_dict() for p in envelope(
                {name: ([p["kbps"] for p in curves[name]], [p[metric] for p in curves[name]])
                 for name in family})]
            for metric in METRICS if all(_measured(curves[n], metric) for n in family)}
    return out


def _anchor_points(curves: dict[str, list[dict]], envs: dict) -> dict[str, dict[str, tuple]]:
    """{anchor: {metric: (kbps, quality)}} of every curve and envelope."""
    out = {name: {m: ([p["kbps"] for p in points], [p[m] for p in points])
                  for m in METRICS if _measured(points, m)} for name, points in curves.items()}
    for name, by_metric in envs.items():
        out[name] = {m: ([p["kbps"] for p in points], [p["value"] for p in points])
                     for m, points in by_metric.items()}
    return out


def bd_table(curves: dict[str, list[dict]], ours: list[str], envs: dict | None = None) -> dict:
    """BD-rate of each imfcodec curve (``ours``, in order) against every other curve and every
    envelope (``envs``), in each metric; of two imfcodec curves the later is the test, the
    earlier its anchor: {test: {anchor: {metric: result}}}."""
    anchors = _anchor_points(curves, envs or {})
    table = {}
    for test in (t for t in ours if t in curves):
        table[test] = {}
        for anchor, by_metric in anchors.items():
            if anchor == test or anchor in ours[ours.index(test) + 1 :]:
                continue
            table[test][anchor] = {}
            for metric in METRICS:
                if metric not in by_metric or metric not in anchors[test]:
                    table[test][anchor][metric] = BDResult(None, None, "not measured").to_dict()
                    continue
                result = bd_rate(*by_metric[metric], *anchors[test][metric])
                table[test][anchor][metric] = result.to_dict()
    return table


def clip_curves(rows: list[Row]) -> dict[str, tuple[dict, dict]]:
    """Each clip's own curves and envelopes: {clip: (curves, envelopes)}."""
    out = {}
    for clip in sorted({r.clip for r in rows}):
        curves = mean_curves([r for r in rows if r.clip == clip])
        out[clip] = curves, envelopes(curves)
    return out


def per_clip_bd(per_clip: dict[str, tuple[dict, dict]], ours: list[str]) -> dict:
    """Each clip's BD-rates against its own curves and envelopes (``per_clip``: clip_curves),
    and their mean over the clips: {"clips": {clip: table}, "mean": {test: {anchor: {metric:
    {"bd_rate_percent", "clips", "of"}}}}}; the mean is over the clips where the curves
    overlap, and says how many those were of how many."""
    clips = sorted(per_clip)
    tables = {clip: bd_table(curves, ours, envs) for clip, (curves, envs) in per_clip.items()}
    mean: dict = {}
    for table in tables.values():
        for test, anchors in table.items():
            for anchor, by_metric in anchors.items():
                for metric, result in by_metric.items():
                    cell = mean.setdefault(test, {}).setdefault(anchor, {}).setdefault(metric, [])
                    if result["bd_rate_percent"] is not None:
                        cell.append(result["bd_rate_percent"])
    for test, anchors in mean.items():
        for anchor, by_metric in anchors.items():
            for metric, values in by_metric.items():
                by_metric[metric] = {"bd_rate_percent": float(np.mean(values)) if values else None,
                                     "clips": len(values), "of": len(clips)}
    return {"clips": tables, "mean": mean}


def plot(curves: dict[str, list[dict]], metric: str, path: Path, title: str,
         envs: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    for codec, points in curves.items():
        if _measured(points, metric):
            ax.plot([p["kbps"] for p in points], [p[metric] for p in points], marker="o",
                    label=codec, alpha=0.6 if "@" in codec else 1.0)
    for name, by_metric in (envs or {}).items():
        if metric in by_metric:
            points = by_metric[metric]
            ax.plot([p["kbps"] for p in points], [p["value"] for p in points], "k--",
                    linewidth=2, label=f"{name} (envelope)")
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
    envs = envelopes(curves)
    ours = list(ours or IMF_MODES)
    bd = bd_table(curves, ours, envs)
    per_clip = clip_curves(rows)
    clips = sorted(per_clip)
    summary = {"clips": clips, "models": models or [], "refine_steps": refine_steps,
               "key_placement": key_placement, "references": list(references),
               "vmaf_models": VMAF_MODELS, "scaler": "lanczos (swscale), down and back up",
               "rows": [r.to_dict() for r in rows], "mean_curves": curves, "envelopes": envs,
               "bd_rate": bd, "bd_rate_per_clip": per_clip_bd(per_clip, ours)}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    with open(out / "results.csv", "w", newline="") as f:
        fields = [k for k in rows[0].to_dict() if k != "per_frame"]
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(r.to_dict())
    (out / "bd_rate.json").write_text(json.dumps(bd, indent=1))
    n = len(clips)
    for metric in plotted(curves):
        plot(curves, metric, out / f"rd_{metric}.png", f"mean over {n} clip(s)", envs)
    folder = out / "per_clip"
    folder.mkdir(exist_ok=True)
    for clip, (curves_of_clip, envs_of_clip) in per_clip.items():
        for metric in plotted(curves_of_clip):
            plot(curves_of_clip, metric, folder / f"{Path(clip).stem}_{metric}.png", clip,
                 envs_of_clip)
    return summary


def plotted(curves: dict[str, list[dict]]) -> list[str]:
    """The metrics some curve has values of (VMAF only when the bench measured it)."""
    return [m for m in METRICS if any(_measured(points, m) for points in curves.values())]


def render(summary: dict) -> None:
    from rich.table import Table

    from ..console import console

    curves = summary["mean_curves"]
    metrics = plotted(curves)
    sound = any(p.get("audio_kbps") for points in curves.values() for p in points)
    table = Table(title="mean over clips (kbps: video; the sound's beside it, not in it)"
                  if sound else "mean over clips")
    columns = ("codec", "setting", "kbps") + (("audio kbps",) if sound else ()) + \
        tuple(NAMES[m] for m in metrics) + ("enc fps", "dec fps")
    for col in columns:
        table.add_column(col, justify="left" if col in ("codec", "setting") else "right")
    for codec, points in curves.items():
        for p in points:
            audio = (f"{p.get('audio_kbps', 0):.2f}",) if sound else ()
            table.add_row(codec, p["setting"], f"{p['kbps']:.2f}", *audio,
                          *[formatted(p[m], m) for m in metrics],
                          f"{p['encode_fps']:.1f}", f"{p['decode_fps']:.1f}")
    console.print(table)
    if summary.get("vmaf_models") and "vmaf" in metrics:
        console.print(f"VMAF models (libvmaf, built in): {summary['vmaf_models']['vmaf']}, "
                      f"{summary['vmaf_models']['vmaf_neg']}", markup=False)
    console.print(_bd_table("BD-rate of the curves averaged over the clips (negative: the "
                            "imfcodec mode needs fewer bits than the anchor)",
                            summary["bd_rate"], metrics, lambda r, m: bd_cell(r)))
    if "bd_rate_per_clip" in summary:
        console.print(_bd_table("BD-rate per clip against the clip's own curves, mean over the "
                                "clips where they overlap", summary["bd_rate_per_clip"]["mean"],
                                metrics, lambda r, m: mean_bd_cell(r)))
    console.print(_bd_table("BD-quality (mean gain at equal rate; positive: the imfcodec mode is "
                            "better)", summary["bd_rate"], metrics, bd_quality_cell))


def _bd_table(title: str, table_data: dict, metrics: list[str], cell):
    """One row per imfcodec mode and anchor, one column per metric: ``cell(result, metric)``."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("imfcodec", "anchor", *[NAMES[m] for m in metrics]):
        table.add_column(col)
    for test, anchors in table_data.items():
        for anchor, result in anchors.items():
            table.add_row(test, anchor, *[cell(result[m], m) if m in result else "n/a"
                                          for m in metrics])
    return table


def mean_bd_cell(r: dict) -> str:
    """A per-clip mean BD-rate, with how many clips it is the mean of."""
    if r["bd_rate_percent"] is None:
        return f"no overlap on any of {r['of']} clips"
    return f"{r['bd_rate_percent']:+.1f}% ({r['clips']} of {r['of']} clips)"


def bd_cell(r: dict) -> str:
    if r.get("bd_rate_percent") is None:
        return r["note"]
    lo, hi = r["overlap"]
    return f"{r['bd_rate_percent']:+.1f}% (over {lo:.3g}..{hi:.3g})"


def bd_quality_cell(r: dict, metric: str) -> str:
    """The mean quality difference at equal rate (BD-PSNR, or its twin in another metric)."""
    if "rate_overlap" not in r:
        return "n/a (results from an older bench)"
    if r["bd_quality"] is None:
        return r["note"] if r["note"] == "not measured" else "the curves do not overlap in rate"
    lo, hi = r["rate_overlap"]
    value = {"psnr": f"{r['bd_quality']:+.2f} dB", "msssim": f"{r['bd_quality']:+.4f}"}.get(
        metric, f"{r['bd_quality']:+.2f}")
    return f"{value} (over {lo:.3g}..{hi:.3g} kbps)"

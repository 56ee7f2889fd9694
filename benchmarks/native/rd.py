"""Rate against quality at the clips' own picture size: imfcodec (one key frame and
--adaptive) beside x265 at that size and SVT-AV1 at that size and at 1/2, 1/3 and 1/4 of each
side scaled back up (Lanczos), with SVT-AV1's upper envelope over its sizes ("svtav1-best":
the user who picks the best size), on the clips of ../shared/data/native (1280x720,
720x1280, 480x908, 512x512).

    python benchmarks/native/rd.py ../shared/data/native --json > benchmarks/native/results.json

Every point is a real encode and decode (imfcodec through its API, the anchors through
PyAV's FFmpeg as `imfcodec bench` codes them), video only (sound excluded), measured at the
clip's own size against the clip's own frames: PSNR and MS-SSIM over every ``--stride``-th
frame of the first ``--frames``, VMAF and VMAF-NEG (libvmaf's vmaf_v0.6.1 and
vmaf_v0.6.1neg) over all of them (VMAF's motion feature needs consecutive frames). Per clip
it reports the BD-rate of each imfcodec mode against each curve and the envelope, in every
metric, where the curves overlap; the rate at which imfcodec (adaptive) reaches SVT-AV1's
MS-SSIM at its lowest full-size rate (crf 63); and, at half that rate, the MS-SSIM of the
envelope and of imfcodec; plus imfcodec's encode and decode speed (frames a second, decoding
to arrays) on this machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from imfcodec.bench.anchors import ANCHORS, DIVISORS, code, scaled_name
from imfcodec.bench.results import bd_table, envelopes
from imfcodec.codec import Codec
from imfcodec.metrics import clip_quality, vmaf_frames
from imfcodec.source import Source

ANCHOR_CRFS = {"x265": (51, 45, 39), "svtav1": (63, 57, 51, 45)}
ANCHOR_SIZES = {"x265": (1,), "svtav1": DIVISORS}
MODES = ("imf", "imf-adaptive")


def measure(frames: list[np.ndarray], decoded: list[np.ndarray], stride: int) -> dict:
    picked = list(range(0, len(frames), stride))
    quality = clip_quality([frames[i] for i in picked], [decoded[i] for i in picked])
    quality |= {k: float(np.mean(v)) for k, v in vmaf_frames(frames, decoded).items()}
    return {k: round(float(v), 4) for k, v in quality.items()}


def run_clip(path: Path, codec: Codec, qualities: list[int], frames_limit: int, stride: int,
             say, anchors: dict | None = None) -> dict:
    """``anchors``: an earlier report's rows of this clip, whose x265 and SVT-AV1 points are
    taken as they are instead of coded again (the same frames and stride)."""
    clip = codec.open(path)
    frames = clip.read(frames_limit)
    source = Source.from_frames(frames, clip.fps, name=path.name, source_size=clip.source_size)
    size = f"{frames[0].shape[1]}x{frames[0].shape[0]}"  # (a square stays at its own size)
    seconds = len(frames) / float(clip.fps)
    rows = []
    for mode in ("imf", "imf-adaptive"):
        for q in qualities:
            t0 = time.perf_counter()
            stream = codec.encode(source, quality=q, adaptive=mode == "imf-adaptive", size=size,
                                  audio=None)
            encode_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            decoded = list(codec.decode(stream))
            decode_s = time.perf_counter() - t0
            row = {"codec": mode, "setting": f"q{q}", "kbps": round(stream.stats.video_kbps, 3),
                   "key_frames": stream.stats.key_frames,
                   "encode_fps": round(len(frames) / encode_s, 1),
                   "decode_fps": round(len(frames) / decode_s, 1), **measure(frames, decoded, stride)}
            say(f"{path.name[:28]} {mode} q{q}: {row}")
            rows.append(row)
    for name, crfs in ANCHOR_CRFS.items():
        for divisor in ANCHOR_SIZES[name]:
            label = scaled_name(name, divisor)
            for crf in crfs:
                earlier = next((r for r in (anchors or {}).get("rows", []) if "vmaf" in r and
                                r["codec"] == label and r["setting"] == f"crf{crf}"), None)
                if earlier is not None:
                    rows.append(earlier)
                    continue
                coded = code(ANCHORS[name], frames, clip.fps, crf, divisor)
                row = {"codec": label, "setting": f"crf{crf}",
                       "kbps": round(coded.bytes * 8 / 1000 / seconds, 3),
                       **measure(frames, coded.frames, stride)}
                say(f"{path.name[:28]} {label} crf{crf}: {row}")
                rows.append(row)
    return {"clip": path.name, "width": frames[0].shape[1], "height": frames[0].shape[0],
            "frames": len(frames), "fps": float(clip.fps), "rows": rows,
            "comparisons": compare(rows)}


def curve(rows: list[dict], name: str) -> list[dict]:
    return sorted((r for r in rows if r["codec"] == name), key=lambda r: r["kbps"])


def rate_at(rows: list[dict], target: float) -> float | None:
    """The rate at which a curve reaches MS-SSIM ``target`` (log-rate interpolation), None
    when it never does within its points."""
    points = sorted((r["kbps"], r["msssim"]) for r in rows)
    for (r0, q0), (r1, q1) in zip(points, points[1:]):
        if q0 < target <= q1 or (q0 >= target and r0 == points[0][0]):
            if q0 >= target:
                return r0
            t = (target - q0) / (q1 - q0)
            return float(np.exp(np.log(r0) + t * (np.log(r1) - np.log(r0))))
    return points[0][0] if points and points[0][1] >= target else None


def quality_at(rows: list[dict], rate: float, metric: str = "msssim") -> float | None:
    """A curve's quality at ``rate`` (straight lines in log-rate between its points), None
    below its lowest rate; held at its best past its highest."""
    points = sorted((r["kbps"], r[metric]) for r in rows)
    if not points or rate < points[0][0]:
        return None
    best = np.maximum.accumulate([q for _, q in points])
    return float(np.interp(np.log(rate), np.log([r for r, _ in points]), best))


def compare(rows: list[dict]) -> dict:
    """BD-rates of each imfcodec mode against every other curve and SVT-AV1's envelope
    (results.bd_table, in every metric); where imfcodec (adaptive) reaches SVT-AV1 crf 63's
    MS-SSIM; and at half crf 63's rate, the MS-SSIM of the envelope and of imfcodec."""
    curves = {name: curve(rows, name) for name in dict.fromkeys(r["codec"] for r in rows)}
    envs = envelopes(curves)
    out = {"bd_rate": bd_table(curves, list(MODES), envs), "envelopes": envs}
    floor = next(r for r in rows if r["codec"] == "svtav1" and r["setting"] == "crf63")
    reach = rate_at(curve(rows, "imf-adaptive"), floor["msssim"])
    half = floor["kbps"] / 2
    best = envs["svtav1-best"]["msssim"]
    out["svtav1_crf63"] = {"kbps": floor["kbps"], "msssim": floor["msssim"],
                           "imf_adaptive_kbps_at_same_msssim": None if reach is None else round(reach, 3),
                           "share_of_svtav1_rate": None if reach is None else round(reach / floor["kbps"], 3)}
    out["at_half_svtav1_crf63_rate"] = {
        "kbps": round(half, 3),
        "envelope_msssim": quality_at([{"kbps": p["kbps"], "msssim": p["value"]} for p in best], half),
        **{f"{mode}_msssim": quality_at(curve(rows, mode), half) for mode in MODES}}
    return out


def table(report: dict) -> str:
    """The markdown tables of benchmarks/README.md, from a --json report."""
    def cell(rows, codec, setting):
        row = next((r for r in rows if r["codec"] == codec and r["setting"] == setting), None)
        return "" if row is None else f"{row['kbps']:.1f} / {row['msssim']:.4f} / {row['vmaf_neg']:.1f}"

    def bd(result):
        return "no overlap" if result["bd_rate_percent"] is None else f"{result['bd_rate_percent']:+.1f} %"

    def ms(value):
        return "below its lowest rate" if value is None else f"{value:.4f}"

    shown = (("imf", "q3"), ("imf-adaptive", "q3"), ("imf-adaptive", "q5"), ("x265", "crf51"),
             ("svtav1", "crf63"), ("svtav1@1/2", "crf63"), ("svtav1@1/3", "crf63"),
             ("svtav1@1/4", "crf63"))
    lines = ["| clip | size | " + " | ".join(f"{c} {s}" for c, s in shown) + " |",
             "| --- | --- |" + " --- |" * len(shown)]
    columns = [("imf-adaptive", "svtav1-best", "msssim"), ("imf-adaptive", "svtav1-best", "vmaf"),
               ("imf-adaptive", "svtav1-best", "vmaf_neg"), ("imf", "svtav1-best", "msssim"),
               ("imf", "svtav1-best", "vmaf_neg"), ("imf-adaptive", "x265", "msssim")]
    names = {"msssim": "MS-SSIM", "vmaf": "VMAF", "vmaf_neg": "VMAF-NEG"}
    bds = ["| clip | " + " | ".join(f"{mode} vs {anchor}, {names[m]}" for mode, anchor, m in columns)
           + " | at half SVT-AV1 crf63's rate: kbps, envelope MS-SSIM, adaptive MS-SSIM |",
           "| --- |" + " --- |" * (len(columns) + 1)]
    for clip in report["clips"]:
        rows, c = clip["rows"], clip["comparisons"]
        name = clip["clip"].split("__")[-1].removesuffix(".mp4")
        lines.append(f"| {name} | {clip['width']}x{clip['height']} | "
                     + " | ".join(cell(rows, codec, setting) for codec, setting in shown) + " |")
        half = c["at_half_svtav1_crf63_rate"]
        bds.append(f"| {name} | " + " | ".join(bd(c["bd_rate"][mode][anchor][m])
                                              for mode, anchor, m in columns)
                   + f" | {half['kbps']:.1f}, {ms(half['envelope_msssim'])}, "
                     f"{ms(half['imf-adaptive_msssim'])} |")
    return "kbps / MS-SSIM / VMAF-NEG, video only:\n\n" + "\n".join(lines) + \
        "\n\nBD-rate where the curves overlap (negative: imfcodec needs fewer bits), and where " \
        "the envelope and imfcodec stand at half SVT-AV1 crf 63's full-size rate:\n\n" + \
        "\n".join(bds) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--table", type=Path, help="print the markdown tables of a --json report")
    parser.add_argument("--qualities", default="1,3,5,7")
    parser.add_argument("--frames", type=int, default=150, help="first N frames of each clip")
    parser.add_argument("--stride", type=int, default=3, help="measure every N-th frame")
    parser.add_argument("--clips", default="", help="comma-separated name fragments to keep")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--anchors-from", type=Path,
                        help="take the x265 and SVT-AV1 points from this earlier --json report "
                             "(made with the same --frames and --stride) instead of coding them")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())), end="")
        return 0
    codec = Codec.load()
    paths = sorted(args.folder.glob("*.mp4"))
    if args.clips:
        paths = [p for p in paths if any(k in p.name for k in args.clips.split(","))]
    say = (lambda m: print(m, file=sys.stderr, flush=True))
    earlier = {}
    if args.anchors_from:
        old = json.loads(args.anchors_from.read_text())
        if (old["frames"], old["stride"]) != (args.frames, args.stride):
            parser.error("--anchors-from: that report used other --frames or --stride")
        earlier = {c["clip"]: c for c in old["clips"]}
    results = [run_clip(p, codec, [int(q) for q in args.qualities.split(",")], args.frames,
                        args.stride, say, earlier.get(p.name)) for p in paths]
    report = {"model": codec.model.name, "frames": args.frames, "stride": args.stride,
              "clips": results}
    print(json.dumps(report, indent=1) if args.json else "\n".join(
        f"{c['clip']}: {json.dumps(c['comparisons'])}" for c in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

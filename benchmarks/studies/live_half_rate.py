"""Issue 39, a next step measured before building it: what if a live stream sent every other
frame's token and the receiver interpolated the frame between?

    python benchmarks/studies/live_half_rate.py ../shared/data/val/<clip>.mp4 ... \\
        --out benchmarks/studies/results/val/live_half_rate.json

An offline estimate, no format: each clip's first --frames frames go through LiveEncoder (one
frame a record) at qualities 1, 3, 5; its records are read back (key frames, each run's
levels). "full" is the stream as sent: its bytes, and the frames rebuilt from every token.
"half" keeps each run's first token, then every other one and the run's last; a frame
between two kept tokens is rebuilt from their linear interpolation in float32 (imf-flow's
token is a flow dictionary's coefficients, so that interpolates the flow). Its rate: the
same key frames and first records, then for each kept token its residual's ideal code length
under the adaptive tables (entropy/adaptive.py) plus 3 bytes of FRAME framing and 4 bits for
the last byte's rounding. "choice" is what an encoder that tests each skip would send: a
frame is skipped only where the interpolation of its neighbours' tokens rebuilds it with at
most --tolerance more squared error than its own token (a FRAME record spanning two frames is
assumed to cost no more than one). MS-SSIM against the source; BD-rate (MS-SSIM) of half and
of choice against full.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import imfcodec
from imfcodec.bench.bdrate import bd_rate
from imfcodec.bench.live import live_stream
from imfcodec.bitstream import TokenChunk
from imfcodec.entropy import adaptive
from imfcodec.entropy import quantize as quant
from imfcodec.entropy.tables import MAX_RESIDUAL, cost_table
from imfcodec.live import LiveSettings
from imfcodec.metrics import clip_quality, mse

FRAMING_BITS = 8 * 3 + 4  # a FRAME record's type byte and CRC-16, and half a byte of rounding


def kept(n: int) -> list[int]:
    """The token positions a half-rate stream sends in a run of n token frames."""
    keep = [0] + list(range(2, n, 2))
    return keep if keep[-1] == n - 1 else keep + [n - 1]


def chosen(model, reference, tokens, rebuilt, sources, tolerance: float) -> list[int]:
    """The token positions an encoder that tests each skip keeps: a frame is skipped (rebuilt
    from its neighbours' interpolation) where that rebuilds it with at most ``tolerance`` more
    squared error than its own token does."""
    keep, i, n = [0], 1, len(tokens)
    while i < n:
        if i + 1 < n:
            between = (0.5 * tokens[keep[-1]] + 0.5 * tokens[i + 1]).astype(np.float32)
            picture = next(iter(model.synthesise(reference, between[None])))
            if mse(sources[i], picture) <= (1 + tolerance) * mse(sources[i], rebuilt[i]):
                keep.append(i + 1)
                i += 2
                continue
        keep.append(i)
        i += 1
    return keep


def interpolated(tokens, keep):
    """Every token: the kept ones as they are, the others interpolated between kept ones."""
    out = tokens.copy()
    for a, b in zip(keep, keep[1:]):
        for i in range(a + 1, b):
            w = np.float32((i - a) / (b - a))
            out[i] = (1 - w) * tokens[a] + w * tokens[b]
    return out.astype(np.float32)


def kept_bits(levels, keep) -> float:
    """The kept tokens' residuals' ideal code length under the adaptive tables, with framing."""
    costs, bits = cost_table(), 0.0
    state = adaptive.TableState(levels.shape[1])
    for row in np.diff(levels[keep], axis=0):
        bits += float(costs[state.tables(), row + MAX_RESIDUAL].sum()) + FRAMING_BITS
        state.update(row)
    return bits


def point(codec, frames, fps, quality, tolerance) -> dict:
    stream = live_stream(codec, frames, fps, LiveSettings(quality=quality, interpolate=False))
    packets, records = stream.packets, stream.records
    grid = codec.model.grid(records[1].token_step)
    full, half, choice, half_bits, choice_bits = [], [], [], 0.0, 0.0
    start = 0  # the first frame of the run
    for run in stream.runs:
        full.append(run.picture)
        half.append(run.picture)
        choice.append(run.picture)
        n = len(run.levels)
        if n:
            reference = codec.model.reference(run.picture)
            levels = np.stack(run.levels)
            tokens = quant.dequantize(levels, grid)
            rebuilt = list(codec.model.synthesise(reference, tokens))
            full += rebuilt
            keep = kept(n)
            half += list(codec.model.synthesise(reference, interpolated(tokens, keep)))
            half_bits += kept_bits(levels, keep)
            sources = frames[start + 1 : start + 1 + n]
            keep = chosen(codec.model, reference, tokens, rebuilt, sources, tolerance)
            choice += list(codec.model.synthesise(reference, interpolated(tokens, keep)))
            choice_bits += kept_bits(levels, keep)
        start += 1 + n
    seconds = len(frames) / float(fps)
    sent = sum(len(p) for p, r in zip(packets[1:], records[1:])
               if not (isinstance(r, TokenChunk) and r.compact))  # start aside: key frames, first tokens, end
    frame_bytes = sum(len(p) for p, r in zip(packets[1:], records[1:])
                      if isinstance(r, TokenChunk) and r.compact)
    return {"quality": quality,
            "full_kbps": round((sent + frame_bytes) * 8 / 1000 / seconds, 4),
            "full_msssim": round(clip_quality(frames, full)["msssim"], 5),
            "half_kbps": round((sent * 8 + half_bits) / 1000 / seconds, 4),
            "half_msssim": round(clip_quality(frames, half)["msssim"], 5),
            "choice_kbps": round((sent * 8 + choice_bits) / 1000 / seconds, 4),
            "choice_msssim": round(clip_quality(frames, choice)["msssim"], 5)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="choice: a frame is skipped where its interpolation rebuilds it "
                             "with at most this share more squared error than its own token")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    codec = imfcodec.Codec.load(device="cpu")
    report = {"frames": args.frames, "clips": {}}
    for path in map(Path, args.clips):
        src = codec.open(path, size=f"{codec.model.image_size}x{codec.model.image_size}")
        frames = src.read(args.frames)
        points = []
        for quality in (1, 3, 5):
            points.append(point(codec, frames, src.fps, quality, args.tolerance))
            print(path.name[:40], json.dumps(points[-1]), file=sys.stderr, flush=True)
        entry = {"points": points}
        for way in ("half", "choice"):
            bd = bd_rate([p["full_kbps"] for p in points], [p["full_msssim"] for p in points],
                         [p[f"{way}_kbps"] for p in points],
                         [p[f"{way}_msssim"] for p in points]).bd_rate
            entry[f"bd_rate_{way}_vs_full"] = None if bd is None else round(bd, 2)
        report["clips"][path.name] = entry
    for way in ("half", "choice"):
        values = [c[f"bd_rate_{way}_vs_full"] for c in report["clips"].values()
                  if c[f"bd_rate_{way}_vs_full"] is not None]
        report[f"mean_bd_rate_{way}_vs_full"] = round(float(np.mean(values)), 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: [v["bd_rate_half_vs_full"], v["bd_rate_choice_vs_full"]]
                      for k, v in report["clips"].items()}
                     | {"mean": [report["mean_bd_rate_half_vs_full"],
                                 report["mean_bd_rate_choice_vs_full"]]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

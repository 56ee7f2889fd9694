"""Rate and quality of an imfcodec model on a folder of clips, through the real codec.

    python benchmarks/val_quality.py ../shared/data/val --qualities 0,3 [--model NAME|PATH]

For each clip and quality level: encode to a temporary .imf, decode to a lossless .mkv, and
compare with the clip's own 256x256 frames (centre crop + resize, as the encoder sees them).
Rate is the whole .imf file: kbps = bytes * 8 / 1000 / (frames / fps). Prints one row per
clip and level and the mean per level; --json prints everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from imfcodec.codec import Codec
from imfcodec.io.reader import read_frames
from imfcodec.metrics import clip_quality
from imfcodec.train.data import find_clips


def evaluate(clips: list[Path], qualities: list[int], model: str | None) -> list[dict]:
    codec = Codec.load(model)
    size = codec.model.image_size
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            opened = codec.open(clip)
            source = opened.read()
            for q in qualities:
                imf, mkv = Path(tmp) / "a.imf", Path(tmp) / "a.mkv"
                stream = codec.encode(opened, quality=q)
                result = stream.stats
                stream.save(imf, force=True)
                codec.decode(imf).save(mkv, force=True)
                decoded = list(read_frames(mkv, size))
                quality = clip_quality(source, decoded)
                key_only = clip_quality(source, [decoded[0]] * len(decoded))
                rows.append({"clip": clip.name, "quality": q, "frames": result.frames,
                             "kbps": result.kbps, "bytes": result.bytes_total, **quality,
                             "key_frame_only_psnr": key_only["psnr"],
                             "key_frame_only_msssim": key_only["msssim"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--qualities", default="0,3")
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    clips = [c for arg in args.clips for c in find_clips(arg)]
    qualities = [int(q) for q in args.qualities.split(",")]
    rows = evaluate(clips, qualities, args.model)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'clip':60} {'q':>2} {'kbps':>7} {'PSNR':>6} {'MS-SSIM':>8} {'key-only MS-SSIM':>17}")
    for r in rows:
        print(f"{r['clip'][:60]:60} {r['quality']:>2} {r['kbps']:7.2f} {r['psnr']:6.2f} "
              f"{r['msssim']:8.4f} {r['key_frame_only_msssim']:17.4f}")
    for q in qualities:
        sel = [r for r in rows if r["quality"] == q]
        print(f"{'mean':60} {q:>2} {np.mean([r['kbps'] for r in sel]):7.2f} "
              f"{np.mean([r['psnr'] for r in sel]):6.2f} {np.mean([r['msssim'] for r in sel]):8.4f} "
              f"{np.mean([r['key_frame_only_msssim'] for r in sel]):17.4f}")


if __name__ == "__main__":
    main()

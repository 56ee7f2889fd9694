"""`imfcodec animate` measured on clips: same identity against the codec, cross identity for
motion and identity, and side-by-side videos to look at.

    python benchmarks/animate_demo.py ../shared/data/val --out /tmp/animate --json > benchmarks/val/animate.json

- Same identity: each clip animates its own first frame (relative motion); MS-SSIM and PSNR of
  the animation against the clip, beside the clip coded at the highest quality level (q7)
  with one key frame and decoded (the target: within 0.02 MS-SSIM of it), with the key frame
  where the encoder puts it by default (the run's most typical frame, "centre") and at frame 0
  ("start", the same reference the animation has).
- Cross identity: clip i's first frame driven by clip i+1 (in name order, the last by the
  first): the Pearson correlation of the per-frame motion energy (mean absolute grey change
  between consecutive frames) of the output and of the driving clip, and the PSNR of the
  output's first frame against the source (identity kept: in relative mode it is the source
  itself, 100 dB by metrics.psnr's convention).
- ``--out``: side-by-side mp4s (source | driving | output) of the cross pairs, not for the
  repository (they show third-party footage).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from imfcodec.codec import Codec
from imfcodec.io.output import save_video
from imfcodec.metrics import clip_quality, psnr
from imfcodec.options import EncodeOptions
from imfcodec.source import Source


def motion_energy(frames: list[np.ndarray]) -> np.ndarray:
    grey = np.stack([f.mean(-1) for f in frames]).astype(np.float64)
    return np.abs(np.diff(grey, axis=0)).mean(axis=(1, 2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, help="a folder of clips")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=None, help="folder for side-by-side mp4s")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    paths = sorted(args.clips.glob("*.mp4"))
    codec = Codec.load(args.model)
    size = codec.model.image_size
    same, cross = [], []
    for path in paths:
        clip = Source.open(path, size)
        frames = clip.read()
        animated = list(codec.animate(frames[0], clip, sound=False))
        row = {"clip": path.name, "frames": len(frames)}
        a = clip_quality(frames, animated)
        row.update(animate_msssim=round(a["msssim"], 4), animate_psnr=round(a["psnr"], 2))
        for placement in ("centre", "start"):  # the default, and the key frame at frame 0
            options = EncodeOptions(quality=7, key_placement=placement)
            coded = list(codec.decode(codec.encode(clip, options=options, audio=None)))
            c = clip_quality(frames, coded)
            row[f"codec_q7_{placement}_msssim"] = round(c["msssim"], 4)
            row[f"codec_q7_{placement}_psnr"] = round(c["psnr"], 2)
        same.append(row)
        print(f"same {same[-1]}", file=sys.stderr)
    for i, path in enumerate(paths):
        driving_path = paths[(i + 1) % len(paths)]
        source = next(iter(Source.open(path, size).frames()))
        driving = Source.open(driving_path, size)
        animation = codec.animate(source, driving, sound=False)
        out = list(animation)
        drive = driving.read()
        r = float(np.corrcoef(motion_energy(out), motion_energy(drive))[0, 1])
        unaligned = r
        if animation.alignment.found:  # the same pair with --no-align
            plain = list(codec.animate(source, driving, sound=False, align=False))
            unaligned = float(np.corrcoef(motion_energy(plain), motion_energy(drive))[0, 1])
        cross.append({"source": path.name, "driving": driving_path.name,
                      "alignment_found": animation.alignment.found,
                      "scale": round(animation.alignment.scale, 3),
                      "motion_energy_correlation": round(r, 3),
                      "motion_energy_correlation_no_align": round(unaligned, 3),
                      "first_frame_psnr_vs_source": round(psnr(source, out[0]), 2)})
        print(f"cross {cross[-1]}", file=sys.stderr)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            side = (np.concatenate([source, d, o], 1) for d, o in zip(drive, out))
            save_video(args.out / f"{path.stem}--{driving_path.stem}.mp4", side, driving.fps,
                       (3 * size, size), force=True)
    report = {"model": codec.model.name, "same_identity": same, "cross_identity": cross,
              "mean": {
                  "animate_msssim": round(float(np.mean([s["animate_msssim"] for s in same])), 4),
                  "codec_q7_centre_msssim": round(float(np.mean([s["codec_q7_centre_msssim"] for s in same])), 4),
                  "codec_q7_start_msssim": round(float(np.mean([s["codec_q7_start_msssim"] for s in same])), 4),
                  "motion_energy_correlation": round(float(np.mean([c["motion_energy_correlation"]
                                                                    for c in cross])), 3),
                  "motion_energy_correlation_no_align": round(float(np.mean(
                      [c["motion_energy_correlation_no_align"] for c in cross])), 3)}}
    print(json.dumps(report, indent=1) if args.json else report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

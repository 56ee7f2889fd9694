"""How far from its key frame a model still rebuilds a frame well: MS-SSIM against distance.

    python benchmarks/motion_reach.py ../shared/data/val [--model NAME|PATH] [--json]

Every --stride frames of each clip is taken as a key frame, coded and decoded by x265 intra
at --qp as the codec would send it; the frames --distances after it are rebuilt from that
picture and their own tokens, quantised at --quality as the codec quantises them. Each row
is the mean MS-SSIM over all such (key frame, frame) pairs at one distance, next to the
MS-SSIM of showing the decoded key frame instead (the floor a motion model must beat).
Where the model's column meets the key frame's, the tokens no longer carry the motion.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from imfcodec import frames as fr
from imfcodec import intra
from imfcodec.entropy import quantize as quant
from imfcodec.io.reader import read_frames
from imfcodec.metrics import msssim_frames
from imfcodec.models import weights
from imfcodec.quality import level
from imfcodec.train.data import find_clips

DISTANCES = (0, 1, 2, 4, 8, 16, 32, 64, 128)


def reach(clips: list[Path], model: str | None, distances: tuple[int, ...], qp: int,
          quality: int, stride: int) -> dict[int, dict]:
    loaded = weights.load(model)
    net, size = loaded.model.eval(), loaded.model.cfg.image_size
    grid = quant.unit(level(quality).token_step, net.token_scale.cpu().numpy())
    rebuilt: dict[int, list[float]] = {d: [] for d in distances}
    shown: dict[int, list[float]] = {d: [] for d in distances}
    for path in clips:
        frames = list(read_frames(path, size))
        for start in range(0, len(frames), stride):
            targets = [(d, start + d) for d in distances if start + d < len(frames)]
            if len(targets) < len(distances):
                break  # every key frame contributes to every distance
            key = intra.decode(intra.encode(frames[start], intra.IntraCodec.HEVC, qp),
                               intra.IntraCodec.HEVC)
            with torch.inference_mode():
                ref = net.reference(fr.to_tensor([key], "cpu"))
                tokens = net.encode_token(fr.to_tensor([frames[i] for _, i in targets], "cpu"))
                levels = quant.quantize(tokens.float().numpy(), grid)
                tokens = torch.from_numpy(quant.dequantize(levels, grid))
                pictures = fr.to_images(net.decode(tokens, ref))
            originals = [frames[i] for _, i in targets]
            model_scores = msssim_frames(originals, pictures)
            key_scores = msssim_frames(originals, [key] * len(targets))
            for (d, _), m, k in zip(targets, model_scores, key_scores):
                rebuilt[d].append(float(m))
                shown[d].append(float(k))
    return {d: {"pairs": len(rebuilt[d]), "model_msssim": float(np.mean(rebuilt[d])),
                "key_frame_msssim": float(np.mean(shown[d]))} for d in distances if rebuilt[d]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, help="a clip or a folder of clips")
    parser.add_argument("--model", default=None)
    parser.add_argument("--distances", default=",".join(map(str, DISTANCES)))
    parser.add_argument("--qp", type=int, default=39, help="x265 intra QP of the key frames")
    parser.add_argument("--quality", type=int, default=3, help="quality level of the tokens")
    parser.add_argument("--stride", type=int, default=20, help="frames between key frames")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    distances = tuple(sorted({int(d) for d in args.distances.split(",")}))
    rows = reach(find_clips(args.clips), args.model, distances, args.qp, args.quality, args.stride)
    if args.json:
        print(json.dumps({"qp": args.qp, "quality": args.quality, "stride": args.stride,
                          "rows": rows}, indent=1))
        return
    print("| distance (frames) | pairs | model MS-SSIM | key frame shown | gain |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for d, r in rows.items():
        print(f"| {d} | {r['pairs']} | {r['model_msssim']:.4f} | {r['key_frame_msssim']:.4f} "
              f"| {r['model_msssim'] - r['key_frame_msssim']:+.4f} |")


if __name__ == "__main__":
    main()

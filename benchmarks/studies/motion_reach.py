"""How far from its key frame a model still rebuilds a frame well: MS-SSIM against distance.

    python benchmarks/studies/motion_reach.py ../shared/data/val [--model NAME|PATH] [--json]

Every --stride frames of each clip is taken as a key frame, coded and decoded by x265 intra
at --qp as the codec would send it; the frames --distances after it are rebuilt from that
picture and their own tokens, quantised at --quality as the codec quantises them. Each row
is the mean MS-SSIM over all such (key frame, frame) pairs at one distance, next to the
MS-SSIM of showing the decoded key frame instead (the floor a motion model must beat).
Where the model's column meets the key frame's, the tokens no longer carry the motion.

--pictures also scores the aligned picture of each level, fine to coarse (64x64: 4x4
patches ... 8x8: 32x32 patches at 256x256): the reference's pixels moved by that level's
attention alone, before the frame decoder. A level that does not move pixels in the model
(only the finest does, or the two finest with coarse pixels) is given them for the
measurement, so its column says what its attention would do with them.
"""

from __future__ import annotations

import argparse
import copy
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
from imfcodec.levels import level
from imfcodec.train.data import find_clips

DISTANCES = (0, 1, 2, 4, 8, 16, 32, 64, 128)


def give_pixels(net) -> None:
    """Every alignment level moves the reference's pixels too (for measuring, not decoding)."""
    for lvl in net.alignment.levels:
        if not lvl.patch:
            lvl.patch = net.cfg.image_size // lvl.size
            lvl.cross.raw_v = 3 * lvl.patch**2


def level_pictures(net, ref_picture: torch.Tensor, tokens: torch.Tensor) -> list[torch.Tensor]:
    """Each level's aligned picture for these tokens, fine to coarse."""
    levels = net.alignment.levels
    key_token = net.token_encoder(ref_picture)
    refs = [lvl.reference(m, f, ref_picture) for lvl, m, f in
            zip(levels, net.token_decoder(key_token), net.feature_encoder(ref_picture))]
    return [lvl(m, r)[1].clamp(0, 1) for lvl, m, r in zip(levels, net.token_decoder(tokens), refs)]


def reach(clips: list[Path], model: str | None, distances: tuple[int, ...], qp: int,
          quality: int, stride: int, pictures: bool = False) -> dict[int, dict]:
    loaded = weights.load(model)
    net, size = loaded.model.eval(), loaded.model.cfg.image_size
    if pictures and not net.cfg.pixel_values:
        raise SystemExit("--pictures needs a model with pixel values")
    probe = copy.deepcopy(net) if pictures else None  # the model itself stays as it is
    if probe is not None:
        give_pixels(probe)
    grid = quant.unit(level(quality).token_step, net.token_scale.cpu().numpy())
    rebuilt: dict[int, list[float]] = {d: [] for d in distances}
    shown: dict[int, list[float]] = {d: [] for d in distances}
    aligned: dict[int, list[list[float]]] = {d: [] for d in distances}
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
                rebuilt_frames = fr.to_images(net.decode(tokens, ref))
                if pictures:
                    moved = level_pictures(probe, fr.to_tensor([key], "cpu"), tokens)
            originals = [frames[i] for _, i in targets]
            model_scores = msssim_frames(originals, rebuilt_frames)
            key_scores = msssim_frames(originals, [key] * len(targets))
            level_scores = ([msssim_frames(originals, fr.to_images(p)) for p in moved]
                            if pictures else [])
            for j, ((d, _), m, k) in enumerate(zip(targets, model_scores, key_scores)):
                rebuilt[d].append(float(m))
                shown[d].append(float(k))
                if pictures:
                    aligned[d].append([float(s[j]) for s in level_scores])
    rows = {}
    for d in distances:
        if not rebuilt[d]:
            continue
        rows[d] = {"pairs": len(rebuilt[d]), "model_msssim": float(np.mean(rebuilt[d])),
                   "key_frame_msssim": float(np.mean(shown[d]))}
        if pictures:
            rows[d]["level_picture_msssim"] = np.mean(aligned[d], axis=0).round(6).tolist()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, help="a clip or a folder of clips")
    parser.add_argument("--model", default=None)
    parser.add_argument("--distances", default=",".join(map(str, DISTANCES)))
    parser.add_argument("--qp", type=int, default=39, help="x265 intra QP of the key frames")
    parser.add_argument("--quality", type=int, default=3, help="quality level of the tokens")
    parser.add_argument("--stride", type=int, default=20, help="frames between key frames")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pictures", action="store_true",
                        help="also score each alignment level's aligned picture")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    distances = tuple(sorted({int(d) for d in args.distances.split(",")}))
    rows = reach(find_clips(args.clips), args.model, distances, args.qp, args.quality, args.stride,
                 args.pictures)
    if args.json:
        print(json.dumps({"qp": args.qp, "quality": args.quality, "stride": args.stride,
                          "rows": rows}, indent=1))
        return
    head = "| distance (frames) | pairs | model MS-SSIM | key frame shown | gain |"
    levels = len(next(iter(rows.values())).get("level_picture_msssim", []))
    head += "".join(f" level {i} picture |" for i in range(levels))  # fine (image/4) to coarse
    print(head)
    print("| ---: " * (5 + levels) + "|")
    for d, r in rows.items():
        cells = "".join(f" {v:.4f} |" for v in r.get("level_picture_msssim", []))
        print(f"| {d} | {r['pairs']} | {r['model_msssim']:.4f} | {r['key_frame_msssim']:.4f} "
              f"| {r['model_msssim'] - r['key_frame_msssim']:+.4f} |{cells}")


if __name__ == "__main__":
    main()

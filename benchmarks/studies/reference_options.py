"""Issue 28's other options, measured before building them: blending two key frames (option b)
and the previous decoded frame as a reference (a memory of appearance).

    python benchmarks/studies/reference_options.py ../shared/data/val --quality 5 --json

Each clip is encoded as `imfcodec encode --adaptive` does (the default flow model, R = 1,
centred key frames) and its key frames are decoded as a decoder would. Every other frame is
then rebuilt in these ways, each from what a decoder could hold:

- ``one``: from its run's key frame and the token analysed against it (today's decoder);
- ``blend_frame`` / ``blend_region`` (option b): the other key frame bracketing the frame (the
  one before its run's key frame, or the one after it, which a decoder holds once key frames
  are sent a run earlier) is warped too, by the frame's flow composed with the flow between
  the two decoded key frames (DIS, computed by the decoder: no second token), through the
  same correction network; the two rebuilds are blended with the weight in {0, 1/4, .., 1}
  the encoder finds best for the frame, or with 0, 1/2 or 1 chosen per region of a 4 x 4 grid
  (weights smoothed bilinearly). The side information's rate is reported (the entropy of the
  weights over the clip, an ideal entropy coder). ``pixel_bound``: per pixel the better of the
  two rebuilds, a bound on what a decoder that knew where each is right (a trained confidence
  or cross-attention network, as in implicit warping) could draw from these two references;
  ``blend_past``: as ``blend_frame``, but the partner is always the key frame sent before the
  run's (the one today's decoder holds, with no change to the order key frames are sent in);
- ``memory``: from the previous decoded frame, with a token analysed against it, frame after
  frame until the next key frame (what a decoder that keeps only its last output would show);
  ``memory_choice``: the better of the run's key frame and the previous decoded frame, chosen
  per frame by the encoder (its one-bit index not counted).

Reported per clip and on average: PSNR and MS-SSIM of each way over all frames (key frames
included, as decoded), and the side information in kbps.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from imfcodec.bench.keyframes import held_keys
from imfcodec.codec import Codec
from imfcodec.entropy import quantize as quant
from imfcodec.frames import to_images, to_tensor
from imfcodec.metrics import msssim_frames, psnr
from imfcodec.motion import flowfield
from imfcodec.source import Source

FRAME_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
REGION_GRID = 4
WAYS = ("one", "blend_frame", "blend_past", "blend_region", "pixel_bound", "memory",
        "memory_choice")


def entropy_bits(symbols: list[int]) -> float:
    """Bits per symbol of an ideal coder that knows the symbols' frequencies."""
    if not symbols:
        return 0.0
    p = np.bincount(symbols) / len(symbols)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


class Rebuilder:
    def __init__(self, model, grid: np.ndarray) -> None:
        self.model, self.grid = model, grid

    def flow(self, frame: np.ndarray, reference) -> torch.Tensor:
        """The dense flow the frame's quantised token rebuilds (1, 2, H, W)."""
        token = self.model.analyse([frame], reference)
        levels = quant.quantize(token, self.grid)
        coefficients = torch.from_numpy(quant.dequantize(levels, self.grid))
        return flowfield.upsample(self.model.dictionary.rebuild(coefficients), self.model.image_size)

    def render(self, reference, dense: torch.Tensor) -> torch.Tensor:
        warped = flowfield.warp(reference.picture, dense)
        out = warped if self.model.refiner is None else self.model.refiner(warped, reference.picture, dense)
        return out.clamp(0, 1)

    def from_picture(self, frame: np.ndarray, picture: np.ndarray) -> np.ndarray:
        reference = self.model.reference(picture)
        return to_images(self.render(reference, self.flow(frame, reference)))[0]


def blend_frame(own: torch.Tensor, other: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The blend of ``own`` and ``other`` at the weight of FRAME_WEIGHTS with the least
    squared error, and that weight's index."""
    errors = [float(((w * own + (1 - w) * other - source) ** 2).mean()) for w in FRAME_WEIGHTS]
    best = int(np.argmin(errors))
    return FRAME_WEIGHTS[best] * own + (1 - FRAME_WEIGHTS[best]) * other, best


def blend_region(own: torch.Tensor, other: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """Per region of a REGION_GRID grid the weight of ``own`` in {0, 1/2, 1} with the least
    squared error; the weights smoothed bilinearly over the picture."""
    candidates = torch.stack([other, 0.5 * (own + other), own])
    errors = F.avg_pool2d(((candidates - source) ** 2).sum(2), own.shape[-1] // REGION_GRID)
    choice = errors.argmin(0)  # (1, g, g)
    weight = F.interpolate(choice[None].float() / 2, size=own.shape[-2:], mode="bilinear",
                           align_corners=False)[0]
    return weight * own + (1 - weight) * other, choice.flatten().tolist()


def measure(codec: Codec, path: Path, quality: int) -> dict:
    model = codec.model
    clip = Source.open(path, model.image_size)
    frames = clip.read()
    stream = codec.encode(clip, quality=quality, adaptive=True, audio=None)
    keys, owner = held_keys(stream.data)
    rebuild = Rebuilder(model, quant.unit(stream.header.token_step, model.token_scale))
    references = [model.reference(picture) for _, picture in keys]
    by_index = sorted(range(len(keys)), key=lambda k: keys[k][0])
    key_at = {keys[k][0]: k for k in by_index}
    between: dict[tuple[int, int], torch.Tensor] = {}  # (own, other) -> dense flow own -> other
    out = {way: [] for way in WAYS}
    frame_weights, past_weights, region_weights, memory_chosen = [], [], [], 0
    previous = chosen = None  # the memory's last output, and the chosen way's
    for f, frame in enumerate(frames):
        if f in key_at:
            for way in WAYS:
                out[way].append(keys[key_at[f]][1])
            previous = chosen = keys[key_at[f]][1]
            continue
        own = owner[f]
        dense = rebuild.flow(frame, references[own])
        mine = rebuild.render(references[own], dense)
        out["one"].append(mine)
        source = to_tensor([frame], "cpu")

        def partner(other: int) -> torch.Tensor:
            """Key frame ``other`` warped by the frame's flow composed with the flow between
            the two decoded key frames (computed once a pair)."""
            if (own, other) not in between:
                flow = flowfield.estimate([keys[own][1]], flowfield.gray(keys[other][1]))
                between[own, other] = torch.from_numpy(flow)
            return rebuild.render(references[other], dense + flowfield.warp(between[own, other], dense))

        # option (b): the key frame on the other side of the frame from its run's key frame
        position = by_index.index(own)
        side = position - 1 if f < keys[own][0] else position + 1
        if 0 <= side < len(by_index):
            theirs = partner(by_index[side])
            picture, best = blend_frame(mine, theirs, source)
            frame_weights.append(best)
            out["blend_frame"].append(picture)
            picture, choice = blend_region(mine, theirs, source)
            region_weights += choice
            out["blend_region"].append(picture)
            closer = ((mine - source) ** 2).sum(1, keepdim=True) <= ((theirs - source) ** 2).sum(1, keepdim=True)
            out["pixel_bound"].append(torch.where(closer, mine, theirs))
        else:
            for way in ("blend_frame", "blend_region", "pixel_bound"):
                out[way].append(mine)
        # option (b) with the key frames a decoder holds today: the one sent before the run's
        if position > 0:
            picture, best = blend_frame(mine, partner(by_index[position - 1]), source)
            past_weights.append(best)
            out["blend_past"].append(picture)
        else:
            out["blend_past"].append(mine)
        # memory of appearance
        base = previous if previous is not None else keys[own][1]
        remembered = rebuild.from_picture(frame, base)
        out["memory"].append(remembered)
        previous = remembered
        one = to_images(mine)[0]
        base = chosen if chosen is not None else keys[own][1]
        candidate = rebuild.from_picture(frame, base)
        errors = [np.mean((frame.astype(np.float32) - x) ** 2) for x in (one, candidate)]
        memory_chosen += bool(errors[1] < errors[0])
        chosen = candidate if errors[1] < errors[0] else one
        out["memory_choice"].append(chosen)
    seconds = len(frames) / float(clip.fps)
    row = {"clip": path.name, "frames": len(frames), "key_frames": len(keys),
           "kbps": round(stream.stats.kbps, 3),
           "blend_frame_side_kbps": round(entropy_bits(frame_weights) * len(frame_weights) / seconds / 1000, 3),
           "blend_past_side_kbps": round(entropy_bits(past_weights) * len(past_weights) / seconds / 1000, 3),
           "blend_region_side_kbps": round(entropy_bits(region_weights) * len(region_weights) / seconds / 1000, 3),
           "memory_choice_share": round(memory_chosen / len(frames), 3)}
    for way, pictures in out.items():
        images = [p if isinstance(p, np.ndarray) else to_images(p)[0] for p in pictures]
        row[f"{way}_psnr"] = round(float(np.mean([psnr(a, b) for a, b in zip(frames, images)])), 3)
        row[f"{way}_msssim"] = round(float(np.mean(msssim_frames(frames, images))), 4)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path)
    parser.add_argument("--quality", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    codec = Codec.load()
    rows = []
    with torch.inference_mode():
        for path in sorted(args.clips.glob("*.mp4")):
            rows.append(measure(codec, path, args.quality))
            print(rows[-1], file=sys.stderr)
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0] if k != "clip"}
    report = {"quality": args.quality, "rows": rows, "mean": mean,
              "command": f"python benchmarks/studies/reference_options.py CLIPS --quality {args.quality}"}
    print(json.dumps(report, indent=1) if args.json else report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

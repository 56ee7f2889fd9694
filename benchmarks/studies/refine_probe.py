"""A quick probe of encoder-side refinement settings: quality and token bytes per setting.

    python benchmarks/studies/refine_probe.py ../shared/data/val --quality 0 --settings 0,10:0.2:1e-3

For each clip the first --frames frames after frame 0 are rebuilt from frame 0, coded and
decoded by x265 intra at the quality level's QP (one key frame, no refresh), from their
tokens: E_T's, or refined with each setting STEPS:LR:PRICE (PRICE: error per estimated bit
of token residual, per unit of token step; the encoder uses
imfcodec.options.Tuning.refine_rate_weight), then quantised at the level's step. Token bytes
are the real range coder's for the clip's whole chunk. Minutes on a 2-core CPU where the bench takes an hour,
so settings can be compared before a bench confirms one (docs/refine.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from imfcodec import frames as fr
from imfcodec import intra
from imfcodec.entropy import coder
from imfcodec.entropy import quantize as quant
from imfcodec.io.reader import read_frames
from imfcodec.metrics import msssim_frames
from imfcodec.models import weights
from imfcodec.levels import level
from imfcodec.refine import refine_tokens
from imfcodec.train.data import find_clips


def parse_setting(text: str) -> tuple[int, float, float]:
    parts = text.split(":")
    steps = int(parts[0])
    lr = float(parts[1]) if len(parts) > 1 else 0.2
    price = float(parts[2]) if len(parts) > 2 else 0.0
    return steps, lr, price


def probe(clips: list[Path], model: str | None, quality: int, frames_per_clip: int,
          settings: list[tuple[int, float, float]]) -> list[dict]:
    net = weights.load(model).model.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    lv = level(quality)
    grid = quant.unit(lv.token_step, net.token_scale.cpu().numpy())
    unit = torch.from_numpy(grid)
    scores: dict = {s: [] for s in settings}
    sizes: dict = {s: 0 for s in settings}
    seconds: dict = {s: 0.0 for s in settings}
    for path in clips:
        frames = list(read_frames(path, net.cfg.image_size))[: frames_per_clip + 1]
        key = intra.decode(intra.encode(frames[0], intra.IntraCodec.HEVC, lv.hevc_qp),
                           intra.IntraCodec.HEVC)
        source = fr.to_tensor(frames[1:], "cpu")
        with torch.no_grad():
            ref = net.reference(fr.to_tensor([key], "cpu"))
            tokens = net.encode_token(source).float()
        for s in settings:
            steps, lr, price = s
            start = time.perf_counter()
            found = refine_tokens(lambda t: net.decode(t, ref), source, tokens, steps, lr=lr, unit=unit,
                                  rate_weight=price * lv.token_step)
            seconds[s] += time.perf_counter() - start
            levels = quant.quantize(found.numpy(), grid)
            absolute, residuals = quant.to_residuals(levels, None)
            sizes[s] += len(coder.encode_chunk(residuals, absolute))
            with torch.no_grad():
                pictures = fr.to_images(net.decode(torch.from_numpy(quant.dequantize(levels, grid)), ref))
            scores[s].extend(float(m) for m in msssim_frames(frames[1:], pictures))
    return [{"steps": s[0], "lr": s[1], "price": s[2], "frames": len(scores[s]),
             "msssim": float(np.mean(scores[s])), "token_bytes": sizes[s],
             "refine_seconds": round(seconds[s], 1)} for s in settings]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, help="a clip or a folder of clips")
    parser.add_argument("--model", default=None)
    parser.add_argument("--quality", type=int, default=0)
    parser.add_argument("--frames", type=int, default=24, help="frames after the key frame, per clip")
    parser.add_argument("--settings", default="0,10:0.2:0,10:0.2:1e-3",
                        help="comma-separated STEPS[:LR[:PRICE]]; 0 is E_T's tokens")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = [parse_setting(t) for t in args.settings.split(",")]
    rows = probe(find_clips(args.clips), args.model, args.quality, args.frames, settings)
    if args.json:
        print(json.dumps({"quality": args.quality, "frames_per_clip": args.frames, "rows": rows},
                         indent=1))
        return
    print("| steps | lr | price | frames | MS-SSIM | token bytes | refine s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['steps']} | {r['lr']:g} | {r['price']:g} | {r['frames']} | {r['msssim']:.4f} "
              f"| {r['token_bytes']} | {r['refine_seconds']:.0f} |")


if __name__ == "__main__":
    main()

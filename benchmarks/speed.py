"""Encode and decode speed (frames per second) and peak memory of each preset on this machine.

    python benchmarks/speed.py                      # flow, small and paper, 60 frames
    python benchmarks/speed.py --preset small --frames 200 --threads 2 --json

Each preset runs in a fresh process so its peak resident memory (ru_maxrss) is its own.
Frames are synthetic 256x256 pictures held in memory; the timed loops are the codec's own
(imfcodec.Codec): encode = key frame + token encoder + quantiser + entropy coder, decode =
entropy decoder + key-frame reference + motion model's decoder to uint8 frames (for the flow
model, encode includes DIS optical flow against the key frame, decode the warp). File I/O and video
container muxing are not timed. Weights are random for presets that are not shipped (speed
does not depend on their values).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from fractions import Fraction


def measure(preset_name: str, frames: int, threads: int | None) -> dict:
    import numpy as np
    import torch

    from imfcodec.codec import Codec
    from imfcodec.frames import BATCH
    from imfcodec.models import IMF, preset, weights
    from imfcodec.motion import load
    from imfcodec.motion.imf import IMFMotion
    from imfcodec.source import Source

    if threads:
        torch.set_num_threads(threads)
    shipped = {w.removeprefix("imf-"): w for w in weights.shipped_models()}
    if preset_name == "static" or preset_name in shipped:
        model = load(shipped.get(preset_name, preset_name))
    else:
        torch.manual_seed(0)
        model = IMFMotion(IMF(preset(preset_name)).eval(), f"imf-{preset_name}", bytes(16))
    codec, size = Codec(model), model.image_size
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    clip = Source.from_frames([np.roll(base, shift=i, axis=1) for i in range(frames)], Fraction(25))
    first = clip.read(1)  # warm-up outside the timed region
    model.synthesise(model.reference(first[0]), np.zeros((BATCH, model.token_dim), np.float32))
    t0 = time.perf_counter()
    stream = codec.encode(clip)
    encode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = sum(1 for _ in codec.decode(stream))
    decode_s = time.perf_counter() - t0
    assert decoded == frames
    return {
        "preset": preset_name, "frames": frames, "size": size,
        "threads": torch.get_num_threads(),
        "parameters": model.description.parameters,
        "encode_fps": round(frames / encode_s, 2), "decode_fps": round(frames / decode_s, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bitstream_bytes": len(stream.data),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append",
                        help="flow or small (shipped), paper, or static (built in); default: flow, "
                             "small and paper")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    presets = args.preset or ["flow", "small", "paper"]
    if args.child:
        print(json.dumps(measure(presets[0], args.frames, args.threads)))
        return
    rows = []
    for name in presets:
        cmd = [sys.executable, __file__, "--child", "--preset", name, "--frames", str(args.frames)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'preset':8} {'params':>10} {'threads':>7} {'encode fps':>10} {'decode fps':>10} {'peak MiB':>9}")
    for r in rows:
        print(f"{r['preset']:8} {r['parameters']:>10} {r['threads']:>7} {r['encode_fps']:>10} "
              f"{r['decode_fps']:>10} {r['peak_rss_mib']:>9}")


if __name__ == "__main__":
    main()

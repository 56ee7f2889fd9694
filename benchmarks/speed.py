"""Encode and decode speed (frames per second) and peak memory of each preset on this machine.

    python benchmarks/speed.py                      # small and paper presets, 60 frames
    python benchmarks/speed.py --preset small --frames 200 --threads 2 --json

Each preset runs in a fresh process so its peak resident memory (ru_maxrss) is its own.
Frames are synthetic 256x256 pictures held in memory; the timed loops are the codec's own
(imfcodec.codec): encode = key frame + token encoder + quantiser + entropy coder, decode =
entropy decoder + key-frame reference + IMF decoder to uint8 frames. File I/O and video
container muxing are not timed. Weights are random for presets that are not shipped (speed
does not depend on their values).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
from fractions import Fraction


def measure(preset_name: str, frames: int, threads: int | None) -> dict:
    import numpy as np
    import torch

    from imfcodec.codec import BATCH, EncodeOptions, StreamDecoder, encode_to_stream, to_tensor
    from imfcodec.models import IMF, preset, weights
    from imfcodec.models.weights import LoadedModel

    if threads:
        torch.set_num_threads(threads)
    shipped = {w.removeprefix("imf-"): w for w in weights.shipped_models()}
    if preset_name in shipped:
        loaded = weights.load(shipped[preset_name])
    else:
        torch.manual_seed(0)
        loaded = LoadedModel(f"imf-{preset_name}", bytes(16), IMF(preset(preset_name)).eval(), {})
    model = loaded.model
    size = model.cfg.image_size
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    clip = [np.roll(base, shift=i, axis=1) for i in range(frames)]
    with torch.inference_mode():  # warm-up outside the timed region
        model.decode(torch.zeros(BATCH, model.cfg.token_dim), model.reference(to_tensor(clip[:1], "cpu")))
    out = io.BytesIO()
    t0 = time.perf_counter()
    encode_to_stream(iter(clip), out, loaded, EncodeOptions(), Fraction(25), (size, size))
    encode_s = time.perf_counter() - t0
    out.seek(0)
    t0 = time.perf_counter()
    decoded = sum(1 for _ in StreamDecoder(out, lambda h: loaded).frames())
    decode_s = time.perf_counter() - t0
    assert decoded == frames
    return {
        "preset": preset_name, "frames": frames, "size": size,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "encode_fps": round(frames / encode_s, 2), "decode_fps": round(frames / decode_s, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bitstream_bytes": len(out.getvalue()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", help="small, paper (default: both)")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    presets = args.preset or ["small", "paper"]
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

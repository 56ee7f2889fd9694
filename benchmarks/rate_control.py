"""Does `imfcodec encode --bitrate R` land within 10 % of R? One row per clip and target.

    python benchmarks/rate_control.py ../shared/data/val --targets 4k,8k,16k [--adaptive]

Each encode goes through the same code as the CLI (imfcodec.ratecontrol); the rate is the
real size of the file it would write. Exit status 1 if any clip misses a target by > 10 %.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from imfcodec.encoder import EncodeOptions, with_adaptive
from imfcodec.io.reader import probe
from imfcodec.models import weights
from imfcodec.ratecontrol import encode_at_bitrate, parse_bitrate
from imfcodec.train.data import find_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--targets", default="4k,8k,16k")
    parser.add_argument("--adaptive", action="store_true")
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    loaded = weights.load(args.model)
    rows = []
    for clip in [c for arg in args.clips for c in find_clips(arg)]:
        options = EncodeOptions()
        if args.adaptive:
            options = with_adaptive(options, probe(clip).fps)
        for target in args.targets.split(","):
            kbps = parse_bitrate(target)
            t0 = time.time()
            rc = encode_at_bitrate(clip, loaded, options, kbps)
            rows.append({"clip": clip.name, "target_kbps": kbps, "kbps": round(rc.result.kbps, 3),
                         "error_percent": round(100 * (rc.result.kbps - kbps) / kbps, 2),
                         "passes": rc.passes, "quality": round(rc.quality, 3),
                         "intra_qp": rc.result.intra_qp, "token_step": round(rc.result.token_step, 5),
                         "key_frames": rc.result.key_frames, "seconds": round(time.time() - t0, 1)})
            if not args.json:
                r = rows[-1]
                print(f"{r['clip'][:48]:48} {target:>5} -> {r['kbps']:7.3f} kbps ({r['error_percent']:+6.2f} %), "
                      f"{r['passes']} passes, QP {r['intra_qp']}, step {r['token_step']}, "
                      f"{r['key_frames']} key frame(s), {r['seconds']} s", flush=True)
    worst = max(abs(r["error_percent"]) for r in rows)
    if args.json:
        print(json.dumps({"rows": rows, "worst_error_percent": worst}, indent=1))
    else:
        print(f"worst error {worst:.2f} % over {len(rows)} encodes")
    sys.exit(0 if worst <= 10 else 1)


if __name__ == "__main__":
    main()

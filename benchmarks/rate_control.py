"""Does `imfcodec encode --bitrate R` land within 10 % of R? One row per clip and target.

    python benchmarks/rate_control.py ../shared/data/val --targets 4k,8k,16k [--policy auto]

Each encode goes through the public API (`Codec.encode(clip, options=..., video_bitrate=R)`,
what the CLI calls); the rate is the real size of the file it would write, sound left out.
--policy auto gives options with no key-frame rule, so rate control chooses the refresh policy
itself (`imfcodec encode --bitrate R` as is); adaptive gives `--adaptive`'s rule, which rate
control keeps (`--bitrate R --adaptive`); single asks for one key frame per clip, as a
scene-cut threshold no frame can pass (`--bitrate R --scene-cut 1`: a rule, so rate control
keeps it, and the same bytes as no refresh at all). Exit status 1 if any clip misses a target
by > 10 %.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

from imfcodec.codec import Codec
from imfcodec.options import EncodeOptions, with_adaptive
from imfcodec.ratecontrol import parse_bitrate
from imfcodec.train.data import find_clips

# A scene cut is a mean absolute grey change in [0, 1] above the threshold: none passes 1.0.
NEVER_CUT = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--targets", default="4k,8k,16k")
    parser.add_argument("--policy", choices=("auto", "adaptive", "single"), default="auto")
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    codec = Codec.load(args.model)
    loaded = codec.model
    rows = []
    for path in [c for arg in args.clips for c in find_clips(arg)]:
        clip = codec.open(path)
        options = EncodeOptions()  # no key-frame rule: rate control chooses the policy
        if args.policy == "adaptive":
            options = with_adaptive(options, clip.fps)
        elif args.policy == "single":
            options = replace(options, scene_cut=NEVER_CUT)
        for target in args.targets.split(","):
            kbps = parse_bitrate(target)
            t0 = time.time()
            stream = codec.encode(clip, options=options, video_bitrate=target, audio=None)
            rc, result = stream.rate_control, stream.stats
            rows.append({"clip": path.name, "target_kbps": kbps, "kbps": round(result.kbps, 3),
                         "error_percent": round(100 * (result.kbps - kbps) / kbps, 2),
                         "passes": rc.passes, "quality": round(rc.quality, 3),
                         "intra_qp": result.intra_qp, "token_step": round(result.token_step, 5),
                         "key_frames": result.key_frames,
                         "policy": rc.policy if args.policy == "auto" else args.policy,
                         "seconds": round(time.time() - t0, 1)})
            if not args.json:
                r = rows[-1]
                print(f"{r['clip'][:48]:48} {target:>5} -> {r['kbps']:7.3f} kbps ({r['error_percent']:+6.2f} %), "
                      f"{r['passes']} passes, QP {r['intra_qp']}, step {r['token_step']}, "
                      f"{r['key_frames']} key frame(s) ({r['policy']}), {r['seconds']} s", flush=True)
    worst = max(abs(r["error_percent"]) for r in rows)
    if args.json:
        print(json.dumps({"model": {"name": loaded.name, "digest": loaded.digest.hex()},
                          "policy": args.policy, "rows": rows, "worst_error_percent": worst},
                         indent=1))
    else:
        print(f"worst error {worst:.2f} % over {len(rows)} encodes")
    sys.exit(0 if worst <= 10 else 1)


if __name__ == "__main__":
    main()

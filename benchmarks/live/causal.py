"""What being causal costs: the live encoder (imfcodec/live/encoder.py) against the file mode
at the same quality levels, on the val clips, as rate (video only) against MS-SSIM and PSNR.

    python benchmarks/live/causal.py ../shared/data/val --json      # benchmarks/val/causal.json
    python benchmarks/live/causal.py ... --modes causal --keep old.json   # one curve again

Five curves a clip, each over the quality levels (--qualities):
  file     `imfcodec encode --adaptive` as a file is coded: key placement in two passes (each
           run's key frame at its centre), a second of frames in each token record;
  causal   the live encoder as `imfcodec send` runs it by default: key frame first, refreshes
           decided from what has been seen, each frame held until the next is coded, then
           sent in a FRAME record of its own or, where the midpoint of its neighbours' tokens
           rebuilds it about as well, with the next in one, its token left out (format 11.0);
  causal-each  the same, each frame's token sent, each in a FRAME record of its own (format
           10.0, `send --no-interpolate`: no frame held);
  causal-2 each frame's token sent, two frames a token record (`send --packet-frames 2`: 40 ms more
           latency at 25 fps, half the records);
  causal-1s  the same causal decisions with a second of frames a token record: what the
           decisions alone cost, without the per-frame records;
  delayed  the live encoder with a latency budget (`send --delay`, --delay seconds, 2 by
           default): each run's key frame chosen among its first frames (most of the budget:
           Tuning.lookahead_share), frames sent in records of the rest's.
BD-rate (MS-SSIM) of each causal curve against the file curve, per clip and on average. The
frames are those decoded from the bytes (the live stream through LiveDecoder, which a test
shows gives the file decoder's frames bit for bit).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import imfcodec
from imfcodec.bench.bdrate import bd_rate
from imfcodec.live import LiveDecoder, LiveEncoder, LiveSettings
from imfcodec.live.encoder import live_tuning
from imfcodec.metrics import clip_quality

MODES = ("file", "causal", "causal-each", "causal-2", "causal-1s", "delayed")
PACKET_FRAMES = {"causal": 1, "causal-each": 1, "causal-2": 2}  # causal-1s: a second's frames


def file_point(codec, src, frames, quality):
    stream = codec.encode(src, quality=quality, adaptive=True, audio=None)
    decoded = list(codec.decode(stream))
    return stream.stats.video_kbps, clip_quality(frames, decoded), stream.stats.key_frames


def causal_point(codec, src, frames, quality, packet_frames, changes=None, interpolate=True,
                 delay=0.0):
    tuning = live_tuning(src.fps, **changes) if changes else None
    settings = LiveSettings(quality=quality, packet_frames=packet_frames, tuning=tuning,
                            interpolate=interpolate, delay=delay)
    encoder = LiveEncoder(codec, src.fps, settings, sound=False)
    decoder = LiveDecoder(codec)
    shown = []
    packets = encoder.start()
    for frame in frames:
        packets += encoder.frame(frame)
    packets += encoder.close()
    for packet in packets:
        shown += [picture for _, picture in decoder.packet(packet).frames]
    kbps = encoder.outbox.bytes_video * 8 / 1000 / (len(frames) / float(src.fps))
    return kbps, clip_quality(frames, shown), encoder.key_frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+", help="folders of clips (val/) or clips")
    parser.add_argument("--qualities", default="0,1,2,3,4,5,6")
    parser.add_argument("--frames", type=int, default=None, help="only the first N frames")
    parser.add_argument("--out", default="benchmarks/val/causal.json")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="the curves to code (file is needed for the BD-rates)")
    parser.add_argument("--keep", default=None,
                        help="a report of this script whose points of the modes not coded "
                             "here are taken as they are (the same clips, frames and levels)")
    parser.add_argument("--refresh-horizon", type=float, default=None,
                        help="the live encoder's Tuning.refresh_horizon in seconds (default: "
                             "what ships)")
    parser.add_argument("--refresh-cost-memory", type=int, default=None,
                        help="the live encoder's Tuning.refresh_cost_memory (default: what "
                             "ships)")
    parser.add_argument("--between-tolerance", type=float, default=None,
                        help="the live encoder's Tuning.between_tolerance (default: what ships)")
    parser.add_argument("--delay", type=float, default=2.0,
                        help="the delayed mode's latency budget in seconds (send --delay)")
    args = parser.parse_args()
    modes = args.modes.split(",")
    changes = {k: v for k, v in (("refresh_horizon", args.refresh_horizon),
                                 ("refresh_cost_memory", args.refresh_cost_memory),
                                 ("between_tolerance", args.between_tolerance)) if v is not None}
    paths = [p for given in map(Path, args.clips)
             for p in (sorted(given.glob("*.mp4")) if given.is_dir() else [given])]
    qualities = [int(q) for q in args.qualities.split(",")]
    codec = imfcodec.Codec.load(device="cpu")
    rows, started = [], time.time()
    kept = [] if args.keep is None else [r for r in json.loads(Path(args.keep).read_text())["rows"]
                                         if r["mode"] not in modes]
    for path in paths:
        src = codec.open(path, size=f"{codec.model.image_size}x{codec.model.image_size}")
        frames = src.read(args.frames)
        if args.frames:
            src = imfcodec.Source.from_frames(frames, src.fps, path.name)
        rows += [r for r in kept if r["clip"] == path.name]
        for quality in qualities:
            for mode in modes:
                if mode == "file":
                    kbps, q, keys = file_point(codec, src, frames, quality)
                elif mode == "delayed":
                    kbps, q, keys = causal_point(codec, src, frames, quality, 1, changes,
                                                 delay=args.delay)
                else:
                    kbps, q, keys = causal_point(codec, src, frames, quality,
                                                 PACKET_FRAMES.get(mode, round(float(src.fps))),
                                                 changes, interpolate=mode == "causal")
                rows.append({"clip": path.name, "mode": mode, "quality": quality,
                             "video_kbps": round(kbps, 4), "psnr": round(q["psnr"], 4),
                             "msssim": round(q["msssim"], 5), "key_frames": keys})
                print(f"{path.name[:40]:40s} q{quality} {mode:10s} {kbps:7.2f} kbps "
                      f"MS-SSIM {q['msssim']:.4f} PSNR {q['psnr']:.2f} keys {keys}",
                      file=sys.stderr, flush=True)
        write(Path(args.out), paths, qualities, args.frames, codec, rows, started)
    summary = write(Path(args.out), paths, qualities, args.frames, codec, rows, started)
    bd = summary["bd_rate_msssim_vs_file"]
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}) if args.json else
          "\n".join(f"{m}: BD-rate {v['mean']} % (MS-SSIM) vs file; per clip {v['per_clip']}"
                    for m, v in bd.items()))
    return 0


def write(out: Path, paths, qualities, frames, codec, rows, started) -> dict:
    """The BD-rates of the clips done so far, and every point, to ``out`` (after each clip)."""
    paths = [p for p in paths if any(r["clip"] == p.name for r in rows)]
    bd = {}
    for mode in MODES[1:]:
        per_clip = {}
        for path in paths:
            def curve(m):
                pts = [r for r in rows if r["clip"] == path.name and r["mode"] == m]
                return [r["video_kbps"] for r in pts], [r["msssim"] for r in pts]
            result = bd_rate(*curve("file"), *curve(mode))
            per_clip[path.name] = None if result.bd_rate is None else round(result.bd_rate, 2)
        values = [v for v in per_clip.values() if v is not None]
        bd[mode] = {"per_clip": per_clip, "mean": round(float(np.mean(values)), 2) if values else None}
    summary = {"clips": [p.name for p in paths], "qualities": qualities, "frames": frames,
               "model": codec.model.name, "bd_rate_msssim_vs_file": bd, "rows": rows,
               "seconds": round(time.time() - started, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


if __name__ == "__main__":
    sys.exit(main())

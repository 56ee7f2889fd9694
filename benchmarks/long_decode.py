"""Does decode speed depend on the clip's length? A 10-second synthetic talking-head clip and
the same 10 seconds looped to 10 minutes, each encoded with `imfcodec encode`, then decoded to
.mp4 as `imfcodec decode` does (Decoded.save: frames, x264, the sound muxed in); the frames a
second of each decode, and whether they are within 10 % of each other.

    python benchmarks/long_decode.py --json                 # 10 s and 10 min at 320x240
    python benchmarks/long_decode.py --minutes 3 --threads 1 --work /tmp/ld

The clips are made here (a face-like pattern that sways, nods, blinks and opens its mouth,
over a textured background, with a speech-like AAC sound), so nobody's footage is needed.
Each decode runs in a fresh process with the command line's thread setting (device.
use_threads: --threads, else its default), timed from the first frame to the file closed, so
start-up and model loading are left out; the short clip is decoded before and after the long
one and its two speeds averaged (other jobs on the machine come and go). The long decode's
speed over each tenth of the clip is reported too: a cost that grows with the frames done so
far shows as a falling row. The encodes take most of the time (about 10 minutes at 320x240
on 2 cores), the long decode about 7; --work keeps the clips and .imf files for a rerun.
Exit status 1 when the two speeds are more than 10 % apart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 48000
TOLERANCE = 0.10

# One decode in a fresh process: threads as the command line sets them, the time from the
# first frame to the file written (model loading and start-up left out), per tenth too.
DECODE = r"""
import json, sys, time
import imfcodec
from imfcodec import device
threads = device.use_threads(None if sys.argv[3] == "default" else int(sys.argv[3]))
video = imfcodec.Codec.load(device="cpu").decode(sys.argv[1])
marks = []
def progress(n):
    marks.append(time.perf_counter())
t0 = time.perf_counter()
video.save(sys.argv[2], force=True, progress=progress)
end = time.perf_counter()
n = len(marks)
tenths = [round((n // 10) / (marks[(i + 1) * n // 10 - 1] - (marks[i * n // 10 - 1] if i else t0)), 2)
          for i in range(10)] if n >= 10 else []
print(json.dumps({"frames": n, "seconds": round(end - t0, 2), "fps": round(n / (end - t0), 2),
                  "fps_by_tenth": tenths, "threads": threads}))
"""


def pattern(size: tuple[int, int], fps: int, seconds: float) -> list[np.ndarray]:
    """``seconds`` of a talking-head stand-in: a face that sways and nods, blinks and opens
    its mouth, over a fixed textured background (a deterministic drawing)."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / width, yy / height
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (height // 8 + 1, width // 8 + 1)).astype(np.float32)
    texture = np.kron(noise, np.ones((8, 8), np.float32))[:height, :width]
    background = np.stack([0.35 + 0.1 * u + 0.03 * texture, 0.4 + 0.05 * v + 0.03 * texture,
                           0.45 + 0.1 * v + 0.03 * texture], -1)
    frames = []
    for t in range(round(seconds * fps)):
        s = t / fps
        cx = 0.5 + 0.04 * np.sin(2 * np.pi * 0.3 * s)  # sway
        cy = 0.5 + 0.02 * np.sin(2 * np.pi * 0.5 * s + 1)  # nod
        rx, ry = 0.22, 0.36
        face = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2 < 1
        rgb = background.copy()
        rgb[face] = [0.85, 0.65, 0.52]
        blink = 0.2 if (s % 3.7) < 0.15 else 1.0
        for side in (-1, 1):
            eye = ((u - cx - side * 0.08) / 0.035) ** 2 + ((v - cy + 0.08) / (0.02 * blink)) ** 2 < 1
            rgb[eye] = [0.1, 0.1, 0.12]
        opening = 0.005 + 0.03 * max(0.0, np.sin(2 * np.pi * 4 * s)) * (0.6 + 0.4 * np.sin(s))
        mouth = ((u - cx) / 0.07) ** 2 + ((v - cy - 0.15) / opening) ** 2 < 1
        rgb[mouth] = [0.45, 0.12, 0.15]
        frames.append((rgb.clip(0, 1) * 255).astype(np.uint8))
    return frames


def speech(seconds: float) -> np.ndarray:
    """A speech-like sound: a 120 Hz voice's harmonics in syllables at 4 a second, int16 mono."""
    s = np.arange(round(seconds * RATE)) / RATE
    voice = sum(np.sin(2 * np.pi * 120 * k * s) / k for k in range(1, 12))
    syllables = np.maximum(0, np.sin(2 * np.pi * 4 * s)) ** 2
    return (0.15 * voice * syllables * 32767 / 3).astype(np.int16)


def write_clip(path: Path, frames: list[np.ndarray], sound: np.ndarray, fps: int,
               loops: int) -> Path:
    """The frames and the sound, ``loops`` times over, as H.264 and AAC in an .mp4."""
    height, width = frames[0].shape[:2]
    step = RATE // fps
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=Fraction(fps))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "18"}
        audio = container.add_stream("aac", rate=RATE, layout="mono")
        for t in range(loops * len(frames)):
            frame = av.VideoFrame.from_ndarray(frames[t % len(frames)], format="rgb24")
            frame.pts = t
            for packet in video.encode(frame):
                container.mux(packet)
            start = (t % len(frames)) * step
            pcm = av.AudioFrame.from_ndarray(sound[None, start:start + step], format="s16",
                                             layout="mono")
            pcm.sample_rate, pcm.pts = RATE, t * step
            for packet in audio.encode(pcm):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def cli(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "imfcodec.cli", *args], capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"imfcodec {' '.join(args)} failed: {done.stderr.strip()[-500:]}")


def decode(imf: Path, out: Path, threads: str) -> dict:
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", DECODE, str(imf), str(out), threads],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"decoding {imf} failed: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="the long clip's length")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="the short clip's length, and the pattern the long one loops")
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--threads", default="default",
                        help="as the command line's --threads (default: its default)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the clips and .imf files here (made once, reused)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    loops = max(1, round(args.minutes * 60 / args.seconds))
    threads = [] if args.threads == "default" else ["--threads", args.threads]
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        tag = f"{size[0]}x{size[1]}_{args.fps}_{args.seconds:g}s"
        short_mp4, long_mp4 = work / f"short_{tag}.mp4", work / f"long_{tag}_x{loops}.mp4"
        encode_s = {}
        if not (short_mp4.exists() and long_mp4.exists()):
            say(f"writing the clips: {args.seconds:g} s and {loops} x {args.seconds:g} s")
            frames, sound = pattern(size, args.fps, args.seconds), speech(args.seconds)
            write_clip(short_mp4, frames, sound, args.fps, 1)
            write_clip(long_mp4, frames, sound, args.fps, loops)
        for clip in (short_mp4, long_mp4):
            imf = clip.with_suffix(".imf")
            if not imf.exists():
                say(f"encoding {clip.name}")
                t0 = time.perf_counter()
                cli("encode", str(clip), str(imf), "--quiet", "--force", *threads)
                encode_s[clip.name] = round(time.perf_counter() - t0, 1)
        short_imf, long_imf = short_mp4.with_suffix(".imf"), long_mp4.with_suffix(".imf")
        out = work / "decoded.mp4"
        say("decoding: short, long, short")
        first = decode(short_imf, out, args.threads)
        say(f"  short: {first['fps']} fps")
        long = decode(long_imf, out, args.threads)
        say(f"  long: {long['fps']} fps (by tenth: {long['fps_by_tenth']})")
        second = decode(short_imf, out, args.threads)
        say(f"  short: {second['fps']} fps")
        out.unlink(missing_ok=True)
    short_fps = (first["fps"] + second["fps"]) / 2
    ratio = long["fps"] / short_fps
    result = {"size": args.size, "fps": args.fps, "cores": os.cpu_count(),
              "threads": long["threads"], "encode_s": encode_s,
              "short": {"frames": first["frames"], "fps": round(short_fps, 2),
                        "runs": [first, second]},
              "long": long, "long_over_short": round(ratio, 3),
              "within_10_percent": abs(ratio - 1) <= TOLERANCE}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{first['frames']} frames: {short_fps:.2f} fps; {long['frames']} frames: "
              f"{long['fps']:.2f} fps ({100 * (ratio - 1):+.1f} %, "
              f"{'within' if result['within_10_percent'] else 'NOT within'} 10 %); "
              f"{long['threads']} thread(s), {os.cpu_count()} cores")
    sys.exit(0 if result["within_10_percent"] else 1)


if __name__ == "__main__":
    main()

"""A clip sent live through `imfcodec send` and `imfcodec receive` on loopback at its own
frame rate (issue 39): latency from a frame read by the sender to that frame written by the
receiver, the rate of the video and the sound, quality against the file mode at the same
settings, and both processes' memory over the run.

    python benchmarks/live/call.py --json                        # 20 s of a clip with sound
    python benchmarks/live/call.py --seconds 600 --json          # the 10-minute run

`receive` is started first (a free port; the script waits until it listens), then `send`
plays the clip for --seconds (looped when the clip is shorter, or with --loop), both with
--log and --json. Latency joins the two logs on (stream, frame): `shown - read`, one
machine's clock; `behind_at_end` is how late the sender read its last frame against the
clip's own rate (a sender slower than real time falls behind, not counted in the latency).
Each process's resident memory (VmRSS) is sampled every second; its slope is a least-squares
line over the second half of the stream (first frame read to last), in MB a minute, so that
"flat memory" is a number (noisy on a short run). The picture is `--size` (default 256x256,
the target's: the clip's centre square; `call`: what `send` codes by default, the clip's own
size fitted into 640x360; or WxH). Quality: the received .mkv against the clip at that size (the stream's frame i
against the clip's frame i modulo its length), PSNR and MS-SSIM (imfcodec.metrics), beside
`imfcodec encode --size SIZE --adaptive` at the same quality and sound rate (key placement
centre, the default, and
start, the live encoder's) then `imfcodec decode`, over the same frames of the clip's first
pass. Both processes share this machine's cores, so on a small CPU the latency includes
waiting for each other. Results go to --out (default benchmarks/live/results.json). Exit
status 1 when a command fails.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent  # benchmarks/live
ROOT = HERE.parents[1]  # the repository
DATA = ROOT.parent / "shared" / "data"


def imfcodec(*args) -> list[str]:
    return [sys.executable, "-m", "imfcodec.cli", *map(str, args)]


def run_json(*args: str) -> dict:
    """An imfcodec command to its end; its --json object (exit 1 with its error if it fails)."""
    done = subprocess.run(imfcodec(*args, "--json"), capture_output=True, text=True,
                          check=False)
    if done.returncode:
        sys.exit(f"imfcodec {' '.join(map(str, args))} failed ({done.returncode}): "
                 f"{done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def default_clip() -> Path:
    """A clip with sound at 25 fps (the target's: 256x256 at 25 fps with sound), val first,
    else any clip with sound."""
    import av

    found = []
    for folder in ("val", "native"):
        for clip in sorted((DATA / folder).glob("*.mp4")):
            with av.open(str(clip)) as container:
                if container.streams.audio:
                    found.append((container.streams.video[0].average_rate != 25, clip))
    if not found:
        sys.exit(f"no clip with sound under {DATA}; give --clip")
    return min(found)[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            sys.exit(f"imfcodec receive exited ({process.returncode}) before listening: "
                     f"{process.stderr.read().strip()[-800:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"imfcodec receive did not listen on port {port} within {timeout:.0f} s")


class Memory(threading.Thread):
    """VmRSS of some processes (MB) each second: {name: [(unix time, MB), ...]}."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.series = pids, {name: [] for name in pids}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for name, pid in self.pids.items():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            self.series[name].append((time.time(), int(line.split()[1]) / 1024))
                except OSError:  # gone
                    pass
            self.stop.wait(1.0)


def memory_summary(series: list, start: float, end: float) -> dict:
    """Peak, and the slope (MB a minute) of a least-squares line over [middle, end] of the run."""
    if not series:
        return {"samples": 0}
    t, mb = np.array(series).T
    half = (t >= (start + end) / 2) & (t <= end)
    slope = (float(np.polyfit(t[half], mb[half], 1)[0]) * 60 if half.sum() >= 3 else None)
    return {"samples": len(t), "peak_mb": round(float(mb.max()), 1),
            "end_mb": round(float(mb[t <= end][-1] if (t <= end).any() else mb[-1]), 1),
            "slope_mb_per_min_second_half": None if slope is None else round(slope, 3),
            "series": [[round(a - start, 1), round(b, 1)] for a, b in series]}  # from the 1st frame


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def commit() -> str:
    """The repository's commit, "+changes" when imfcodec/ differs from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False)
    dirty = subprocess.run([*git, "status", "--porcelain", "imfcodec"], capture_output=True,
                           text=True, check=False).stdout.strip()
    return head.stdout.strip() + ("+changes" if dirty else "") if not head.returncode else "?"


def latency(tx: list[dict], rx: list[dict], fps: float) -> dict:
    read = {(e["stream"], e["frame"]): e["read"] for e in tx}
    ms = np.array([(e["shown"] - read[e["stream"], e["frame"]]) * 1000 for e in rx
                   if (e["stream"], e["frame"]) in read])
    if not len(ms):
        return {"joined": 0}
    return {"joined": len(ms), "median_ms": round(float(np.median(ms)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "max_ms": round(float(ms.max()), 1),
            "first_second_median_ms": round(float(np.median(ms[:max(1, round(fps))])), 1),
            "last_second_median_ms": round(float(np.median(ms[-max(1, round(fps)):])), 1),
            # whether the receiver keeps up: the median of each minute of the stream (of each
            # tenth on a run under 10 minutes)
            "median_ms_by_part": [round(float(np.median(part)), 1)
                                  for part in np.array_split(ms, max(10, len(ms) // round(60 * fps)))
                                  if len(part)]}


def opened(path: Path, read):
    """``path`` read as the benchmark's picture (``read``: a square's side, centre crop, or
    (width, height))."""
    from imfcodec.source import Source

    return Source.open(path, 256, "crop").fitted(read, "crop")


def per_frame_quality(reference: list[np.ndarray], video: Path, index: list[int] | None,
                      read=256) -> dict:
    """Per-frame PSNR and MS-SSIM of ``video`` against ``reference`` (frame k against
    reference[index[k] % len], or k when ``index`` is None), in batches."""
    from imfcodec.metrics import msssim_frames, psnr

    n, psnrs, sims, where, batch = len(reference), [], [], [], ([], [])
    for k, frame in enumerate(opened(video, read).frames()):
        i = k if index is None else (index[k] if k < len(index) else None)
        if i is None or (index is None and i >= n):
            break
        batch[0].append(reference[i % n]), batch[1].append(frame), where.append(i)
        if len(batch[0]) == 32:
            sims.extend(msssim_frames(*batch)), psnrs.extend(map(psnr, *batch))
            batch = ([], [])
    if batch[0]:
        sims.extend(msssim_frames(*batch)), psnrs.extend(map(psnr, *batch))
    return {"psnr": np.array(psnrs), "msssim": np.array(sims), "source_index": np.array(where)}


def mean_quality(q: dict, mask=None) -> dict:
    mask = np.ones(len(q["psnr"]), bool) if mask is None else mask
    return {"frames": int(mask.sum()), "psnr": round(float(q["psnr"][mask].mean()), 3),
            "msssim": round(float(q["msssim"][mask].mean()), 4)} if mask.any() else {"frames": 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=None, help="default: a clip with sound")
    parser.add_argument("--seconds", type=float, default=20.0, help="of the clip, sent live")
    parser.add_argument("--loop", action="store_true",
                        help="play the clip again and again (implied when shorter than --seconds)")
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--packet-frames", type=int, default=1)
    parser.add_argument("--delay", type=float, default=0.0,
                        help="send's --delay: a latency budget in seconds (0: a call's)")
    parser.add_argument("--audio-bitrate", default="8k")
    parser.add_argument("--size", default="256x256",
                        help="the picture sent (send --size), or 'call': send's default")
    parser.add_argument("--threads", type=int, default=1,
                        help="each process's (both share this machine's cores)")
    parser.add_argument("--no-quality", action="store_true", help="leave out the quality part")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))

    from imfcodec.layout import plan
    from imfcodec.live.encoder import LIVE_BOX
    from imfcodec.source import Source

    clip = args.clip or default_clip()
    size = None if args.size == "call" else args.size
    probed = Source.open(clip, 256, "crop")
    read = plan(probed.info.width, probed.info.height, 256, size, LIVE_BOX).read
    # the file mode at the same picture (encode's own default box is 1920x1080)
    picture = f"{read}x{read}" if isinstance(read, int) else f"{read[0]}x{read[1]}"
    source = opened(clip, read)
    reference = source.read()  # the clip at 256x256, centre crop (read before the run)
    n = len(reference)
    fps = float(source.fps)
    clip_seconds = n / fps
    loop = args.loop or clip_seconds < args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        port, out = free_port(), tmp / "received.mkv"
        rx_log, tx_log = tmp / "rx.jsonl", tmp / "tx.jsonl"
        say(f"{clip.name}: {clip_seconds:.2f} s at {fps:g} fps; "
            f"sending {args.seconds:g} s{' looped' if loop else ''} to ws://127.0.0.1:{port}")
        receiver = subprocess.Popen(imfcodec("receive", f"ws://127.0.0.1:{port}", out, "--log",
                                             rx_log, "--json", "--force", "--threads",
                                             args.threads),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_listening(port, receiver)
        sender = subprocess.Popen(imfcodec("send", clip, f"ws://127.0.0.1:{port}", "--log", tx_log,
                                           "--json", "--seconds", args.seconds, "--quality",
                                           args.quality, "--packet-frames", args.packet_frames,
                                           "--audio-bitrate", args.audio_bitrate,
                                           "--threads", args.threads,
                                           *(["--size", size] if size else []),
                                           *(["--delay", args.delay] if args.delay else []),
                                           *(["--loop"] if loop else [])),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        start = time.time()
        memory = Memory({"send": sender.pid, "receive": receiver.pid})
        memory.start()
        try:
            tx_out, tx_err = sender.communicate(timeout=3 * args.seconds + 300)
            end = time.time()
            rx_out, rx_err = receiver.communicate(timeout=120)
            rx_end = time.time()
        except subprocess.TimeoutExpired:
            for process in (sender, receiver):
                process.kill()
            sys.exit("imfcodec send or receive did not finish in time")
        finally:
            memory.stop.set()
            memory.join()
        for name, process, err in (("send", sender, tx_err), ("receive", receiver, rx_err)):
            if process.returncode:
                if name == "send":
                    receiver.kill()
                sys.exit(f"imfcodec {name} failed ({process.returncode}): {err.strip()[-800:]}")
        tx_report, rx_report = (json.loads(o.strip().splitlines()[-1]) for o in (tx_out, rx_out))
        tx, rx = read_log(tx_log), read_log(rx_log)
        if not tx or not rx:
            sys.exit(f"no frames went through: {len(tx)} logged sent, {len(rx)} written")
        first, last = tx[0]["read"], tx[-1]["read"]  # the stream's first and last frames read
        say(f"sent {tx_report['sent']} frames, received {rx_report['frames']}"
            + ("; measuring quality" if not args.no_quality else ""))

        result = {
            "commit": commit(), "clip": clip.name, "clip_seconds": round(clip_seconds, 3),
            "fps": fps, "seconds": args.seconds, "looped": loop,
            "level": args.quality, "size": args.size, "picture": picture,
            "packet_frames": args.packet_frames, "delay": args.delay,
            "audio_bitrate": args.audio_bitrate,
            "cores": os.cpu_count(), "threads": args.threads,
            "load_after": round(os.getloadavg()[0], 2),
            "timing_s": {"send_wall": round(end - start, 1),
                         "send_start_up": round(first - start, 1),
                         "reading": round(last - first, 1),
                         # how late the last frame was read against the clip's own rate
                         "behind_at_end": round(last - first - (len(tx) - 1) / fps, 1),
                         "send_after_last_frame": round(end - last, 1),
                         "receive_after_send": round(rx_end - end, 1)},
            "frames": {"read": tx_report["frames"], "sent": tx_report["sent"],
                       "written": rx_report["frames"], "logged_sent": len(tx),
                       "logged_written": len(rx),
                       "not_rendered": sum(not e["rendered"] for e in rx),
                       "dropped": rx_report["dropped"], "lost": rx_report["lost"],
                       "refused": rx_report["refused"],
                       "dropped_packets": tx_report["dropped_packets"],
                       "repeated": tx_report["repeated"],
                       "key_frames": tx_report["key_frames"],
                       "streams": [tx_report["streams"], rx_report["streams"]]},
            "latency": {**latency(tx, rx, fps),
                        "receiver_median_ms": rx_report["latency_ms_median"],
                        "receiver_p95_ms": rx_report.get("latency_ms_p95")},
            "rate": {"send": {k: tx_report[k] for k in ("video_kbps", "audio_kbps", "kbps",
                                                        "bytes_video", "bytes_audio", "seconds")},
                     "receive": {k: rx_report[k] for k in ("kbps", "bytes_video",
                                                           "bytes_audio", "seconds")}},
            "memory": {name: memory_summary(series, first, last)
                       for name, series in memory.series.items()},
        }

        if not args.no_quality:  # frame k of the output is the rx log's k-th: its frame index
            live = per_frame_quality(reference, out, [e["frame"] for e in rx], read)
            first_pass = live["source_index"] < n
            upto = int(live["source_index"][first_pass].max()) + 1 if first_pass.any() else 0
            quality = {"reference_frames": n, "live_all_frames": mean_quality(live),
                       "live_first_pass": mean_quality(live, first_pass),
                       "live_video_kbps": tx_report["video_kbps"],
                       "live_audio_kbps": tx_report["audio_kbps"],
                       "live_key_frames": tx_report["key_frames"]}
            # The file mode at the same settings, two-pass (centre) and causal (start) key
            # placement, over the same frames of the clip as the live first pass.
            for placement in ("centre", "start"):
                imf, decoded = tmp / f"{placement}.imf", tmp / f"{placement}.mkv"
                encoded = run_json("encode", clip, imf, "--size", picture,
                                   "--quality", args.quality, "--adaptive", "--key-placement", placement,
                                   "--audio-bitrate", args.audio_bitrate, "--force")
                run_json("decode", imf, decoded, "--force")
                file = per_frame_quality(reference, decoded, None, read)
                quality[f"file_{placement}"] = {
                    **mean_quality(file, file["source_index"] < upto),
                    **{k: encoded.get(k) for k in ("video_kbps", "audio_kbps", "key_frames")}}
            result["quality"] = quality

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    summary = {k: v for k, v in result.items() if k != "memory"}
    summary["memory"] = {name: {k: v for k, v in m.items() if k != "series"}
                         for name, m in result["memory"].items()}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        lat, rate, mem = result["latency"], result["rate"]["send"], summary["memory"]
        print(f"latency {lat.get('median_ms')} ms median, {lat.get('p95_ms')} ms p95; "
              f"{rate['kbps']} kbps (video {rate['video_kbps']}, sound {rate['audio_kbps']}); "
              + "; ".join(f"{k} peak {m.get('peak_mb')} MB, {m.get('slope_mb_per_min_second_half')}"
                          f" MB/min" for k, m in mem.items()))
        if "quality" in result:
            print(json.dumps(result["quality"]))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

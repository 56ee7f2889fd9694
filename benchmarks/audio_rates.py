"""What the sound costs and keeps at each --audio-bitrate: the measurement behind the default.

Speech is made with espeak-ng (a system package: `apt-get install espeak-ng`; the clips here
have no sound of their own), in several voices, and coded exactly as `imfcodec encode` codes
a clip's sound (imfcodec.audio.encode_audio); the packets are then decoded through the same
Ogg Opus file that `imfcodec decode` writes beside a .y4m. For each rate it reports the
rate the packets really take (their records' bytes over the sound's length), the decoded
bandwidth (the frequency under which 99 % of the energy lies), STOI (short-time objective
intelligibility, 0..1, pystoi: `pip install pystoi`) against the source speech, and, for a
440 Hz tone, the decoded tone's frequency and its duration and start against the source's.
"round_trips" then takes a 3 s 256x256 clip whose AAC tone starts 0.2 s after its first frame
through the real encode and decode (default model, quality 3, .mp4 out) at each rate: the
decoded sound's length against the source's (as FFmpeg decodes both), its onset against the
first frame, and its frequency.

    python benchmarks/audio_rates.py --rates 6k,8k,10k,12k,16k,24k,32k --json > benchmarks/audio/rates.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

from imfcodec.audio import AudioSettings, encode_audio, extradata, timed_packets
from imfcodec.io.audio import write_opus
from imfcodec.ratecontrol import parse_bitrate

SENTENCES = [
    "The quick brown fox jumps over the lazy dog, and then it sleeps in the warm sun.",
    "Please send the report by Thursday; we will review the figures at nine thirty.",
    "She sells sea shells by the sea shore, while the children build castles of sand.",
]
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-scotland"]


def speak(text: str, voice: str, path: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


def tone(path: Path, seconds: float = 2.0, rate: int = 16000, hz: float = 440.0) -> Path:
    with av.open(str(path), "w") as c:
        stream = c.add_stream("pcm_s16le", rate=rate, layout="mono")
        t = np.arange(round(seconds * rate)) / rate
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        for p in stream.encode(frame):
            c.mux(p)
        for p in stream.encode(None):
            c.mux(p)
    return path


def samples(path: Path, rate: int | None = None) -> tuple[np.ndarray, int, float]:
    """Mono float samples (resampled to ``rate`` when given), the rate, the first one's time."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate or stream.rate)
        out, start = [], None
        for frame in c.decode(stream):
            if start is None:
                start = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        return np.concatenate(out).astype(np.float64), rate or stream.rate, start or 0.0


def coded(path: Path, bitrate: int, folder: Path) -> tuple[Path, float, float]:
    """The sound of ``path`` coded at ``bitrate`` and decoded: (the .opus file, the kbps its
    records take, its length in seconds)."""
    track = encode_audio(path, 0.0, AudioSettings(bitrate))
    out = folder / f"{path.stem}-{bitrate}.opus"
    write_opus(out, track.header.channels, extradata(track.header),
               timed_packets(track.header, [c for _, c in track.chunks]))
    return out, track.bytes * 8 / 1000 / track.seconds, track.seconds


def bandwidth(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    cumulative = np.cumsum(spectrum) / spectrum.sum()
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.searchsorted(cumulative, 0.99)])


def stoi_of(reference: np.ndarray, decoded: np.ndarray, rate: int) -> float:
    from pystoi import stoi

    n = min(len(reference), len(decoded))
    return float(stoi(reference[:n], decoded[:n], rate, extended=False))


def clip_with_tone(path: Path, start: float, seconds: float = 3.0, fps: int = 25,
                   rate: int = 44100, hz: float = 440.0) -> Path:
    """A 256x256 clip (a moving gradient, libx264) with an AAC tone that starts ``start``
    seconds after its first frame and ends with it."""
    with av.open(str(path), "w") as c:
        video = c.add_stream("libx264", rate=fps)
        video.width = video.height = 256
        video.pix_fmt = "yuv420p"
        sound = c.add_stream("aac", rate=rate, layout="mono")
        ramp = np.linspace(0, 255, 256, dtype=np.float32)
        for i in range(round(seconds * fps)):
            rgb = np.stack([np.roll(ramp, 3 * i)[None].repeat(256, 0)] * 3, -1).astype(np.uint8)
            for p in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                c.mux(p)
        for p in video.encode(None):
            c.mux(p)
        t = np.arange(round((seconds - start) * rate)) / rate
        pcm = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        for pos in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, pos:pos + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, round(start * rate) + pos
            for p in sound.encode(frame):
                c.mux(p)
        for p in sound.encode(None):
            c.mux(p)
    return path


def onset(x: np.ndarray, rate: int) -> float:
    return float(np.flatnonzero(np.abs(x) > 0.3 * np.abs(x).max())[0] / rate)


def round_trip(folder: Path, bitrate: int, start: float = 0.2) -> dict:
    """A clip with a tone through the real encode and decode (the default model, .mp4 out):
    the decoded sound's length, onset against the first frame, and frequency."""
    from imfcodec.codec import Codec

    source = clip_with_tone(folder / "tone-clip.mp4", start)
    codec = Codec.load()
    stream = codec.encode(source, quality=3, audio=AudioSettings(bitrate))
    out = codec.decode(stream).save(folder / f"decoded-{bitrate}.mp4", force=True)
    ref, ref_rate, ref_start = samples(source)
    got, rate, got_start = samples(out)
    spectrum = np.abs(np.fft.rfft(got * np.hanning(len(got))))
    return {"bitrate": bitrate, "audio_kbps": round(stream.stats.audio_kbps, 3),
            "video_kbps": round(stream.stats.video_kbps, 3),
            "duration_error_ms": round(1000 * (len(got) / rate - len(ref) / ref_rate), 2),
            "onset_error_ms": round(1000 * ((got_start + onset(got, rate)) - (ref_start + onset(ref, ref_rate))), 2),
            "tone_hz": round(float(np.fft.rfftfreq(len(got), 1 / rate)[int(np.argmax(spectrum))]), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="6k,8k,10k,12k,16k,24k")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rates = [round(parse_bitrate(r, "--rates") * 1000) for r in args.rates.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        speech = [speak(text, voice, folder / f"s{i}-{voice}.wav")
                  for i, text in enumerate(SENTENCES) for voice in VOICES]
        source_tone = tone(folder / "tone.wav")
        ref_tone, ref_rate, _ = samples(source_tone)
        for bitrate in rates:
            scores, widths, kbps = [], [], []
            for path in speech:
                out, k, _ = coded(path, bitrate, folder)
                reference, _, _ = samples(path, 16000)
                decoded, _, _ = samples(out, 16000)
                scores.append(stoi_of(reference, decoded, 16000))
                widths.append(bandwidth(samples(out)[0], 48000))
                kbps.append(k)
            out, k, seconds = coded(source_tone, bitrate, folder)
            decoded, rate, start = samples(out)
            spectrum = np.abs(np.fft.rfft(decoded * np.hanning(len(decoded))))
            peak = float(np.fft.rfftfreq(len(decoded), 1 / rate)[int(np.argmax(spectrum))])
            results.append({
                "bitrate": bitrate, "kbps": round(float(np.mean(kbps)), 3),
                "stoi": round(float(np.mean(scores)), 4), "stoi_min": round(float(np.min(scores)), 4),
                "bandwidth_hz": round(float(np.median(widths))),
                "tone_hz": round(peak, 1), "tone_kbps": round(k, 3),
                "tone_duration_error_ms": round(1000 * (len(decoded) / rate - len(ref_tone) / ref_rate), 2),
                "tone_start_ms": round(1000 * start, 2),
            })
            print(f"{bitrate / 1000:g}k: {results[-1]}", file=sys.stderr)
        trips = [round_trip(folder, bitrate) for bitrate in rates]
        for trip in trips:
            print(f"round trip: {trip}", file=sys.stderr)
    report = {"command": "python benchmarks/audio_rates.py --rates " + args.rates,
              "speech": f"{len(SENTENCES)} sentences x {len(VOICES)} espeak-ng voices",
              "results": results, "round_trips": trips}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for r in results:
            print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())

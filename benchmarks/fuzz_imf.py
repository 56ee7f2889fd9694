"""Fuzz the .imf reader: mutated files must end in a clean error, never a crash or a hang.

    python benchmarks/fuzz_imf.py --cases 10000 [--seed 0] [--cli-every 50]

A small valid file is made from a synthetic clip with a tiny flow model, with predicted key
frames, sound (an AUDIO_HEADER and several AUDIO records), token chunks that name an older key
frame (format 5.0) and blended ones (format 6.0). Cases: every truncation
of it, then random mutations: bit flips, byte overwrites, inserted or deleted bytes, absurd
header values and garbage record payloads re-sealed with a valid CRC (so they reach the
header checks, the entropy decoder and the key-frame decoder), garbage after the magic.

Each case is read through the whole decoding pipeline up to the network (container,
checksums, entropy decoding, key-frame decoding): it must either decode or raise the
library's FormatError / ModelError (its sound's packets timed too), within --timeout seconds, with a peak of traced
allocations under --max-mib. Every --cli-every-th case also goes through `imfcodec decode`
in-process: its exit code must be 0, 4 or 5, an error must be one line, and no file but
the input (and a finished output) may be left in the folder. Prints the counts.
"""

from __future__ import annotations

import argparse
import functools
import random
import signal
import struct
import sys
import tempfile
import time
import tracemalloc
import zlib
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from imfcodec import bitstream as bs
from imfcodec.audio import AudioSettings, encode_audio
from imfcodec.bitstream.varint import Cursor
from imfcodec.errors import FormatError, ModelError


class Hang(Exception):
    pass


def make_sample(folder: Path):
    """A tiny flow model file and two valid .imf files made with it: one of the model's square
    with intra and predicted key frames, token chunks from an older key frame (5.0) and
    blended ones (6.0), and sound; two of a wider picture (7.0: a motion region; 8.0: with
    the picture's global motion)."""
    import numpy as np

    from imfcodec import motion
    from imfcodec.codec import Codec
    from imfcodec.motion import dictionary as md
    from imfcodec.motion.flow import FlowConfig, serialize
    from imfcodec.options import EncodeOptions, Tuning
    from imfcodec.source import Source

    flows = np.random.default_rng(1).normal(0, 1.0, (50, 2, 8, 8)).astype(np.float32)
    path = folder / "tiny.safetensors"
    path.write_bytes(serialize(md.principal(flows, 4), FlowConfig(64, 8, 4, 0.25, "fast"), "tiny-fuzz"))
    loaded = motion.load(path)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    other = np.ascontiguousarray(base[::-1])
    # two scenes taking turns (so that some token chunks name an older key frame, format 5.0)
    frames = Source.from_frames([np.roll(base if (i // 3) % 2 == 0 else other, i, axis=1)
                                 for i in range(12)], Fraction(10))
    # intra key frames at 0 and 6 (interval), predicted ones (codec 3) between them (refreshes)
    options = EncodeOptions(keyframe_interval=6, refresh_threshold=99.0, min_refresh_gap=3,
                            chunk_seconds=0.3, references=2)
    stream = Codec(loaded).encode(frames, options=options)
    stream = replace(stream, data=_with_reference(stream.data))
    # and sound: a tone starting 0.1 s in, its AUDIO records about 0.3 s each
    track = encode_audio(_tone(folder / "tone.wav", 1.1), -0.1, AudioSettings(), chunk_seconds=0.3)
    # samples at a picture of its own size (format 7.0: a motion region in the header; 8.0:
    # and the picture's global motion in every token)
    wide = Source.from_frames([np.roll(np.concatenate([base, base[:, :32]], axis=1), i, axis=1)
                               for i in range(12)], Fraction(10))
    moving = Codec(loaded).encode(wide, options=options).data
    still = Codec(loaded).encode(wide, options=replace(options, tuning=Tuning(global_motion=False))).data
    assert moving[4] == 8 and still[4] == 7
    return path, loaded, [stream.with_sound(track).data, still, moving, _live(loaded, base, 9),
                          _live(loaded, base, 10), _live(loaded, base, 11),
                          _live(loaded, base, 12, delay=0.6)]


def _live(loaded, base, major: int, delay: float = 0.0) -> bytes:
    """A live stream (format 9.0: a stream id, an open frame count, adaptive token tables, a
    key frame a receiver asked for, sound in 60 ms records; 10.0: and FRAME records, a
    predicted frame each; 11.0: FRAME records of one frame and of two; 12.0, with a ``delay``:
    each run's key frame sent ahead of its leading frames, records of several frames), its
    packets end to end."""
    import numpy as np

    from imfcodec.codec import Codec
    from imfcodec.live import LiveEncoder, LiveSettings
    from imfcodec.live.encoder import live_tuning

    # (11.0: every frame that can be left out is, so that both kinds of FRAME record come)
    settings = LiveSettings(packet_frames=2 if major == 9 else 1, interpolate=major == 11,
                            tuning=live_tuning(10, between_tolerance=1e9), delay=delay)
    encoder = LiveEncoder(Codec(loaded), Fraction(10), settings, frame_records=major >= 10)
    packets = encoder.start()
    tone = (np.sin(np.arange(4800 * 12) / 7.0) * 8000).astype(np.int16)[:, None]
    for i in range(12):
        if i == 7:
            encoder.request_key()
        packets += encoder.frame(np.roll(base, i, axis=1))
        packets += encoder.audio(tone[i * 4800 : (i + 1) * 4800], i / 10)
    packets += encoder.close()
    data = b"".join(packets)
    assert data[4] == major
    assert not delay or min(encoder.loop.keys.reasons) > 0  # (the first key frame ahead)
    return data


def _with_reference(data: bytes) -> bytes:
    """The file with its last run's token chunks rebuilt from the key frame before (a
    reference index, format 5.0), as an encoder with --references may write them; blended
    ones blend the last key frame in (partner 0, format 6.0)."""
    import io

    records = [r for _, r in bs.read_records(io.BytesIO(data))]
    header, body = records[0], records[1:-1]
    last_key = max(i for i, r in enumerate(body) if isinstance(r, bs.KeyFrame))
    # (a blended chunk keeps its shares and blends the last key frame in instead)
    body = [replace(r, reference=1, partner=None if r.partner is None else 0)
            if i > last_key and isinstance(r, bs.TokenChunk) else r for i, r in enumerate(body)]
    return bs.pack(header, body)


def _tone(path: Path, seconds: float, rate: int = 16000) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w") as c:
        stream = c.add_stream("pcm_s16le", rate=rate, layout="mono")
        t = np.arange(round(seconds * rate)) / rate
        frame = av.AudioFrame.from_ndarray((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)[None],
                                           format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            c.mux(packet)
    return path


def _start_length(data: bytes) -> int:
    """The file start's length: 6, or 10 with a stream id (format 9.0)."""
    return 10 if len(data) > 4 and data[4] >= 9 else 6


@functools.lru_cache(maxsize=16)
def split_records(data: bytes) -> list[tuple[int, int, int, object]]:
    """(start, payload start, end, the record) of each record of a valid file."""
    import io

    out, pos = [], _start_length(data)
    for size, record in bs.read_records(io.BytesIO(data)):
        if getattr(record, "compact", False):  # a FRAME record (10.0): no length varint
            out.append((pos, pos + 1, pos + size, record))
        else:
            i = pos + 1
            while data[i] & 0x80:
                i += 1
            out.append((pos, i + 1, pos + size, record))
        pos += size
    return out


def _framing(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each record as its framing alone says (the bytes may be damaged)."""
    out, pos = [], _start_length(data)
    while pos < len(data):
        if data[4] >= 10 and data[pos] >= 0x80:  # a FRAME record: its length in its type byte
            length = data[pos] - 0x80 if data[4] == 10 else data[pos] & 0x3F
            end = pos + 1 + length + 2
        else:
            cursor = Cursor(data[pos + 1 :], "record")
            length = cursor.varint()
            end = pos + 1 + cursor.pos + length + 4
        out.append((pos, end))
        pos = end
    return out


def reseal(kind: int, payload: bytes, data: bytes = b"") -> bytes:
    """A record with a valid CRC (in a 9.0 ``data``, over its stream id too)."""
    framed = bytes([kind]) + bs.write_varint(len(payload)) + payload
    seed = zlib.crc32(data[6:10]) if _start_length(data) == 10 else 0
    return framed + struct.pack("<I", zlib.crc32(framed, seed))


def reseal_frame(payload: bytes, data: bytes, frame: int, pair: bool = False) -> bytes:
    """A FRAME record (10.0) of frame ``frame`` (``pair``: 11.0, of that frame and the next)
    with a valid CRC-16; its payload cut to what its type byte can say."""
    from imfcodec.bitstream.checksum import frame_crc

    payload = payload[: 127 if data[4] == 10 else 63]
    framed = bytes([0x80 + (0x40 if pair else 0) + len(payload)]) + payload
    return framed + struct.pack("<H", frame_crc(framed, int.from_bytes(data[6:10], "little"), frame))


ABSURD = {
    "width": [0, 1, 3, 16385, 2**40], "height": [0, 65535, 2**62],
    "source_width": [0, 2**31], "frame_count": [0, 1, 2**31 + 1, 2**60],
    "chunk_frames": [0, 2**20], "token_dim": [0, 1, 31, 33, 2**20],
    "fps": [Fraction(0, 1), Fraction(1, 2**40), Fraction(2**40, 1)],
    "token_step": [0.0, -1.0, float("nan"), float("inf"), 1e30], "intra_codec": [0, 3, 255],
    "quality": [255], "keyframe_interval": [2**50],
    "region": [(0, 0, 0), (0, 0, 1), (0, 0, 2**20), (2**40, 0, 64), (100, 100, 64), (1, 1, 63)],
    "global_motion": [True, False],
}


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    records = split_records(data)
    kind = rng.choice(["bitflip", "byte", "insert", "delete", "header", "payload", "garbage", "length"])
    b = bytearray(data)
    if kind == "bitflip":
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(b))
            b[pos] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == "insert":
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == "delete":
        pos = rng.randrange(len(b))
        del b[pos : pos + rng.randint(1, 16)]
    elif kind == "header":
        start, _, end, _ = records[0]
        header = bs.Header.from_bytes(data[records[0][1] : end - 4])
        field = rng.choice(list(ABSURD))
        value = rng.choice(ABSURD[field])
        if field == "fps":
            header.fps = value
            payload = None
        else:
            try:
                setattr(header, field, value)
            except (ValueError, struct.error):
                pass
        try:
            payload = header.to_bytes()
        except (ValueError, struct.error, OverflowError):
            payload = None
        if payload is None and field == "global_motion":  # the flag without a region: by hand
            header.global_motion = False
            payload = header.to_bytes() + bytes([1])
        if payload is None:  # fps 0/1 or a value to_bytes refuses: write the fields by hand
            payload = bytearray(header.to_bytes()) if field != "fps" else None
            if payload is None:
                h = header
                payload = (bs.write_varint(len(h.model_name)) + h.model_name.encode() + h.model_digest
                           + b"".join(bs.write_varint(v) for v in (h.token_dim, h.width, h.height,
                                      h.source_width, h.source_height, value.numerator,
                                      value.denominator, h.frame_count))
                           + bytes([h.quality]) + struct.pack("<f", h.token_step)
                           + bytes([h.intra_codec, h.intra_qp, int(h.fit)])
                           + bs.write_varint(h.chunk_frames) + bs.write_varint(h.keyframe_interval))
        b = bytearray(data[:start] + reseal(1, bytes(payload), data) + data[end:])
    elif kind == "payload":
        start, pstart, end, record = rng.choice(records[1:])
        compact = getattr(record, "compact", False)
        payload = bytearray(data[pstart : end - (2 if compact else 4)])
        head = rng.randint(0, min(4, len(payload)))
        tail = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
        if rng.random() < 0.5:
            tail = bytes(payload[head:]) if len(payload) > head else tail
            tail = bytearray(tail)
            for _ in range(rng.randint(1, 6)):
                if tail:
                    tail[rng.randrange(len(tail))] ^= 1 << rng.randrange(8)
            tail = bytes(tail)
        if compact:  # (its frame index is in its CRC)
            sealed = reseal_frame(bytes(payload[:head]) + tail, data, record.first_frame,
                                  record.frame_count == 2)
        else:
            sealed = reseal(data[start], bytes(payload[:head]) + tail, data)
        b = bytearray(data[:start] + sealed + data[end:])
    elif kind == "garbage":
        b = bytearray(data[:_start_length(data)]
                      + bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
    elif kind == "length":
        start, _, _, _ = rng.choice(records)
        b = bytearray(data[: start + 1] + bs.write_varint(rng.choice([2**31, 2**60, 10**6]))
                      + data[start + 2 :])
    return kind, bytes(b)


def live(data: bytes, loaded) -> None:
    """The case as a live receiver takes it: its bytes in pieces (as TCP gives them), then
    packet by packet (as WebSocket messages); a bad record may only ever be refused."""
    from imfcodec.codec import Codec
    from imfcodec.live import LiveDecoder

    codec = Codec(loaded)
    decoder = LiveDecoder(codec)
    for start in range(0, len(data), 37):
        decoder.feed(data[start : start + 37])
    decoder = LiveDecoder(codec)
    pos, records = 0, []
    try:
        pos = _start_length(data)
        records = _framing(data)
    except (IndexError, ValueError, FormatError):
        pass
    for a, c in [(0, pos)] + records:
        try:
            decoder.packet(data[a:c])
        except FormatError:
            pass


def read_case(data: bytes, loaded, timeout: float, max_mib: float) -> str:
    """Returns 'ok', 'format-error', 'model-error', 'crash: ...', 'hang' or 'memory: ...'."""
    import io

    from imfcodec.decoder import check_model, iter_decoded, sound_packets

    def loaded_for(header):
        check_model(header, loaded)
        return loaded

    def alarm(signum, frame):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    tracemalloc.start()
    try:
        for _ in iter_decoded(io.BytesIO(data), loaded_for):
            pass
        for _ in sound_packets(io.BytesIO(data)):
            pass
        outcome = "ok"
    except FormatError:
        outcome = "format-error"
    except ModelError:
        outcome = "model-error"
    except Hang:
        outcome = "hang"
    except Exception as exc:  # anything else is a crash the harness reports
        outcome = f"crash: {type(exc).__name__}: {exc}"
    try:
        if outcome in ("ok", "format-error") and len(data) > 4 and data[4] >= 9:
            live(data, loaded)  # a live receiver must refuse what a file reader refuses
    except (FormatError, ModelError):
        pass
    except Hang:
        outcome = "hang"
    except Exception as exc:
        outcome = f"crash (live): {type(exc).__name__}: {exc}"
    except Hang:
        outcome = "hang"
    except Exception as exc:  # anything else is a crash the harness reports
        outcome = f"crash: {type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if peak > max_mib and not outcome.startswith(("crash", "hang")):
        outcome = f"memory: {peak:.0f} MiB"
    return outcome


def cli_case(data: bytes, model_path: Path, folder: Path) -> str | None:
    """Decodes through the CLI; returns a problem, or None."""
    from click.testing import CliRunner

    from imfcodec.cli import main

    for f in folder.iterdir():
        f.unlink()
    src = folder / "in.imf"
    src.write_bytes(data)
    result = CliRunner().invoke(main, ["decode", str(src), str(folder / "out.mkv"), "--model",
                                       str(model_path), "--quiet"])
    left = sorted(p.name for p in folder.iterdir())
    if result.exit_code not in (0, 4, 5):
        return f"exit {result.exit_code}: {result.output.strip()[:200]}"
    if result.exit_code and (left != ["in.imf"] or len(result.output.strip().splitlines()) != 1):
        return f"leftover {left} or output {result.output[:200]!r}"
    if result.exit_code == 0 and left != ["in.imf", "out.mkv"]:
        return f"leftover {left}"
    return None


def damaged(original: bytes, case: bytes) -> bool:
    """Whether a mutation changed anything a reader must notice: not when it left the bytes
    as they were (a byte overwritten by its own value), nor when it changed only the minor
    version (byte 5), which readers of the same major version accept by design."""
    if len(case) != len(original):
        return True
    return any(a != b for i, (a, b) in enumerate(zip(original, case)) if i != 5)


def run(cases: int, seed: int, cli_every: int, timeout: float, max_mib: float,
        verbose: bool = True) -> dict:
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    problems: list[str] = []
    decoded_kinds: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_path, loaded, samples = make_sample(tmp)
        work = tmp / "cli"
        work.mkdir()
        t0 = time.time()
        for i in range(cases):
            data = samples[i % len(samples)]  # the samples take turns
            if i // len(samples) < len(data):
                kind, case = "truncate", data[: i // len(samples)]
            else:
                kind, case = mutate(data, rng)
            outcome = read_case(case, loaded, timeout, max_mib)
            key = outcome.split(":")[0]
            counts[key] = counts.get(key, 0) + 1
            if key == "ok":
                decoded_kinds[kind] = decoded_kinds.get(kind, 0) + 1
            if key == "ok" and kind in ("bitflip", "byte", "truncate", "delete", "insert") \
                    and damaged(data, case):
                problems.append(f"case {i} ({kind}): a damaged file decoded without an error")
                counts["undetected"] = counts.get("undetected", 0) + 1
            if key in ("crash", "hang", "memory"):
                problems.append(f"case {i} ({kind}): {outcome}")
            if cli_every and i % cli_every == 0:
                problem = cli_case(case, model_path, work)
                counts["cli-checked"] = counts.get("cli-checked", 0) + 1
                if problem:
                    counts["leftover-or-cli"] = counts.get("leftover-or-cli", 0) + 1
                    problems.append(f"case {i} ({kind}) via CLI: {problem}")
        elapsed = time.time() - t0
    summary = {
        "cases": cases, "seconds": round(elapsed, 1), "ok": counts.get("ok", 0),
        "format_errors": counts.get("format-error", 0), "model_errors": counts.get("model-error", 0),
        "crashes": counts.get("crash", 0), "hangs": counts.get("hang", 0),
        "memory": counts.get("memory", 0), "cli_checked": counts.get("cli-checked", 0),
        "leftover_files_or_bad_cli": counts.get("leftover-or-cli", 0),
        "undetected_damage": counts.get("undetected", 0), "decoded_by_kind": decoded_kinds,
        "problems": problems[:20],
    }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cli-every", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-mib", type=float, default=64.0)
    args = parser.parse_args()
    s = run(args.cases, args.seed, args.cli_every, args.timeout, args.max_mib)
    print(f"{s['cases']} cases in {s['seconds']} s: {s['crashes']} crashes, {s['hangs']} hangs, "
          f"{s['memory']} over {args.max_mib:.0f} MiB, {s['leftover_files_or_bad_cli']} leftover "
          f"files or bad CLI exits ({s['cli_checked']} through the CLI); "
          f"{s['undetected_damage']} damaged files decoded silently; "
          f"{s['format_errors']} format errors, {s['model_errors']} model errors, {s['ok']} decoded "
          f"(by mutation: {s['decoded_by_kind']})")
    for p in s["problems"]:
        print("  " + p)
    bad = s["crashes"] or s["hangs"] or s["memory"] or s["leftover_files_or_bad_cli"]
    sys.exit(1 if bad or s["undetected_damage"] else 0)


if __name__ == "__main__":
    main()

"""`imfcodec info`: what an .imf file holds and where its bytes went (no model needed)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from . import bitstream as bs
from .audio import LONGER, beyond, file_seconds
from .audio import describe as describe_sound
from .io.reader import existing_file
from .intra import RECORD_CODECS, IntraCodec


@dataclass
class _Tokens:
    """The token records counted: chunks, of which some of each kind, and their bytes."""

    chunks: int = 0
    older: int = 0  # token chunks rebuilt from an earlier key frame than their run's
    blended: int = 0  # token chunks that blend in a second key frame
    frame_records: int = 0  # (10.0) of them, FRAME records: one predicted frame each (or two)
    between: int = 0  # (11.0) frames rebuilt between their neighbours (FRAME records of two)
    bytes: int = 0

    def add(self, size: int, record: bs.TokenChunk) -> None:
        self.chunks += 1
        self.older += record.reference > 0
        self.blended += record.partner is not None
        self.frame_records += record.compact
        self.between += record.compact and record.frame_count == 2
        self.bytes += size


@dataclass
class _Tally:
    """What a pass over the records counts (the header and the end record are container)."""

    header: bs.Header | None = None
    key_frames: list = field(default_factory=list)
    tokens: _Tokens = field(default_factory=_Tokens)
    bytes_key: int = 0
    bytes_audio: int = 0
    sound: bs.AudioHeader | None = None
    sound_samples: int = 0
    frames: int = 0  # the END record's count

    def add(self, size: int, record) -> None:
        if isinstance(record, bs.Header):
            self.header = record
        elif isinstance(record, bs.KeyFrame):
            self.key_frames.append({"frame": record.frame_index, "reason": record.reason.name.lower(),
                                    "codec": RECORD_CODECS.get(record.codec, record.codec),
                                    "qp": record.qp, "bytes": size})
            self.bytes_key += size
        elif isinstance(record, bs.TokenChunk):
            self.tokens.add(size, record)
        elif isinstance(record, bs.AudioHeader):
            self.sound = record
            self.bytes_audio += size
        elif isinstance(record, bs.End):
            self.frames = record.frame_count
        elif isinstance(record, bs.AudioChunk):
            self.sound_samples = record.end - self.sound.pre_skip  # the last one's is the length
            self.bytes_audio += size


def _header_fields(header: bs.Header) -> dict:
    codec = header.intra_codec
    return {
        "model": header.model_name, "model_digest": header.model_digest.hex(),
        "width": header.width, "height": header.height,
        "source_width": header.source_width, "source_height": header.source_height,
        "fit": header.fit.name.lower(),
        "fps": f"{header.fps.numerator}/{header.fps.denominator}",
        "frames": header.frame_count, "quality": header.quality, "token_step": header.token_step,
        "intra_codec": IntraCodec(codec).name.lower() if codec in IntraCodec._value2member_map_ else codec,
        "intra_qp": header.intra_qp,
        "motion_region": list(header.region) if header.region is not None else None,
        "global_motion": header.global_motion,
    }


def describe(path: str | Path) -> dict:
    """The header, the key frames, and where the bytes went, as JSON-ready numbers."""
    path = existing_file(path, "an .imf file")
    tally = _Tally()
    with open(path, "rb") as f:
        version = bs.file_version(f)
        f.seek(0)
        for size, record in bs.read_records(f):
            tally.add(size, record)
    header, total = tally.header, path.stat().st_size
    if header.frame_count == 0:  # (9.0) a live stream's open count: its END record's
        header = replace(header, frame_count=tally.frames)
    seconds = header.frame_count / float(header.fps)
    t = tally
    sound = describe_sound(t.sound, max(0, t.sound_samples)) if t.sound is not None else None
    # the sound over its own length; the whole file over its own (the sound's span where it
    # runs well past the video: audio.file_seconds); the video's parts over the video's
    sound_seconds = sound["seconds"] if sound else 0.0
    whole = file_seconds(seconds, sound["start_seconds"], sound_seconds) if sound else seconds

    def kbps(size: int, over: float = seconds) -> float:
        return round(size * 8 / 1000 / over, 4) if over else 0.0

    inter = header.frame_count - len(t.key_frames)
    video = total - t.bytes_audio
    return {
        "file": str(path), "format_version": f"{version[0]}.{version[1]}",
        "live": tally.header.frame_count == 0,
        **_header_fields(header), "seconds": round(seconds, 4), "file_seconds": round(whole, 4),
        "key_frames": t.key_frames, "token_chunks": t.tokens.chunks,
        "token_chunks_older_reference": t.tokens.older, "token_chunks_blended": t.tokens.blended,
        "token_chunks_frame_records": t.tokens.frame_records, "frames_between": t.tokens.between,
        "audio": sound,
        "audio_beyond_video_seconds": round(beyond(seconds, sound["start_seconds"], sound_seconds), 4)
        if sound else None,
        "bytes": total, "bytes_key_frames": t.bytes_key, "bytes_tokens": t.tokens.bytes,
        "bytes_audio": t.bytes_audio,
        "bytes_container": total - t.bytes_key - t.tokens.bytes - t.bytes_audio,
        "kbps": kbps(total, whole), "kbps_key_frames": kbps(t.bytes_key),
        "kbps_tokens": kbps(t.tokens.bytes), "kbps_audio": kbps(t.bytes_audio, sound_seconds),
        "kbps_video": kbps(video),
        "bits_per_token_frame": round(t.tokens.bytes * 8 / inter, 2) if inter else 0.0,
        "bits_per_pixel": round(video * 8 / (header.frame_count * header.width * header.height), 6),
    }


def render(data: dict) -> None:
    from rich.table import Table

    from .console import stdout as console

    console.print(f"[bold]{data['file']}[/bold]  imf format {data['format_version']}")
    console.print(f"model {data['model']} (weights {data['model_digest']}), quality {data['quality']}, "
                  f"token step {data['token_step']:.4g}, key frames {data['intra_codec']} QP {data['intra_qp']}")
    picture = f"source {data['source_width']}x{data['source_height']}, " + (
        data["fit"] if data["motion_region"] is None else
        "motion region {2}x{2} at ({0}, {1})".format(*data["motion_region"]) +
        (" and the picture's global motion" if data["global_motion"] else ""))
    console.print(f"{data['frames']} frames, {data['width']}x{data['height']} ({picture}), "
                  f"{data['fps']} fps, {data['seconds']} s")
    table = Table(title="where the bytes went")
    for col in ("part", "bytes", "kbps", "share"):
        table.add_column(col, justify="right" if col != "part" else "left")
    total = max(1, data["bytes"])
    parts = [("key frames", data["bytes_key_frames"], data["kbps_key_frames"]),
             ("tokens", data["bytes_tokens"], data["kbps_tokens"])]
    if data["audio"] is not None:
        parts.append(("audio", data["bytes_audio"], data["kbps_audio"]))
    for part, b, k in parts + [("container", data["bytes_container"], None)]:
        table.add_row(part, str(b), f"{k:.3f}" if k is not None else "", f"{100 * b / total:.1f}%")
    table.add_row("[bold]total", str(data["bytes"]), f"{data['kbps']:.3f}", "100%")
    sound = data["audio"]
    if sound is not None:
        longer = data["audio_beyond_video_seconds"]
        console.print(f"audio: Opus, {sound['channels']} channel(s), {sound['sample_rate']} Hz "
                      f"(source {sound['source_sample_rate']} Hz), {sound['seconds']} s from "
                      f"{sound['start_seconds']:+g} s, target {sound['target_bitrate'] / 1000:g} kbps"
                      + (f"; {longer:.2f} s of it outside the video's {data['seconds']} s (the "
                         f"file lasts {data['file_seconds']} s)" if longer > LONGER else ""))
    else:
        console.print("audio: none")
    console.print(table)
    notes = [f"{n} {what}" for n, what in (
        (data["token_chunks_older_reference"], "rebuilt from an earlier key frame than their run's"),
        (data["token_chunks_blended"], "blending in a second key frame"),
        (data["token_chunks_frame_records"], "FRAME records"),
        (data["frames_between"], "frames rebuilt between their neighbours, no token sent")) if n]
    console.print(f"{data['token_chunks']} token chunks"
                  + (f" ({'; '.join(notes)})" if notes else "")
                  + f", {data['bits_per_token_frame']} bits per predicted frame, "
                  f"{data['bits_per_pixel']} bits per pixel")
    keys = ", ".join(f"{k['frame']} ({k['reason']}{', predicted' if k['codec'] == 'hevc-p' else ''}, "
                     f"{k['bytes']} B)" for k in data["key_frames"])
    console.print(f"key frames: {keys}")

"""`imfcodec info`: what an .imf file holds and where its bytes went (no model needed)."""

from __future__ import annotations

from pathlib import Path

from . import bitstream as bs
from .audio import describe as describe_sound
from .io.reader import existing_file
from .intra import RECORD_CODECS, IntraCodec


def describe(path: str | Path) -> dict:
    path = existing_file(path, "an .imf file")
    key_frames, chunks, older, blended = [], 0, 0, 0
    bytes_key = bytes_tokens = bytes_audio = bytes_other = 0
    sound, sound_samples = None, 0
    with open(path, "rb") as f:
        version = bs.file_version(f)
        f.seek(0)
        header = None
        for size, record in bs.read_records(f):
            if isinstance(record, bs.Header):
                header = record
                bytes_other += size
            elif isinstance(record, bs.KeyFrame):
                key_frames.append({"frame": record.frame_index, "reason": record.reason.name.lower(),
                                   "codec": RECORD_CODECS.get(record.codec, record.codec),
                                   "qp": record.qp, "bytes": size})
                bytes_key += size
            elif isinstance(record, bs.TokenChunk):
                chunks += 1
                older += record.reference > 0
                blended += record.partner is not None
                bytes_tokens += size
            elif isinstance(record, bs.AudioHeader):
                sound = record
                bytes_audio += size
            elif isinstance(record, bs.AudioChunk):
                sound_samples = record.end - sound.pre_skip  # the last one's is the length
                bytes_audio += size
            else:
                bytes_other += size
    total = path.stat().st_size
    seconds = header.frame_count / float(header.fps)

    def kbps(size: int) -> float:
        return round(size * 8 / 1000 / seconds, 4) if seconds else 0.0

    inter = header.frame_count - len(key_frames)
    return {
        "file": str(path),
        "format_version": f"{version[0]}.{version[1]}",
        "model": header.model_name,
        "model_digest": header.model_digest.hex(),
        "width": header.width, "height": header.height,
        "source_width": header.source_width, "source_height": header.source_height,
        "fit": header.fit.name.lower(),
        "fps": f"{header.fps.numerator}/{header.fps.denominator}",
        "frames": header.frame_count, "seconds": round(seconds, 4),
        "quality": header.quality, "token_step": header.token_step,
        "intra_codec": IntraCodec(header.intra_codec).name.lower()
        if header.intra_codec in IntraCodec._value2member_map_ else header.intra_codec,
        "intra_qp": header.intra_qp,
        "key_frames": key_frames, "token_chunks": chunks, "token_chunks_older_reference": older,
        "token_chunks_blended": blended,
        "audio": describe_sound(sound, max(0, sound_samples)) if sound is not None else None,
        "bytes": total, "bytes_key_frames": bytes_key, "bytes_tokens": bytes_tokens,
        "bytes_audio": bytes_audio,
        "bytes_container": total - bytes_key - bytes_tokens - bytes_audio,
        "kbps": kbps(total), "kbps_key_frames": kbps(bytes_key), "kbps_tokens": kbps(bytes_tokens),
        "kbps_audio": kbps(bytes_audio), "kbps_video": kbps(total - bytes_audio),
        "bits_per_token_frame": round(bytes_tokens * 8 / inter, 2) if inter else 0.0,
        "bits_per_pixel": round((total - bytes_audio) * 8 / (header.frame_count * header.width * header.height), 6),
    }


def render(data: dict) -> None:
    from rich.table import Table

    from .console import stdout as console

    console.print(f"[bold]{data['file']}[/bold]  imf format {data['format_version']}")
    console.print(f"model {data['model']} (weights {data['model_digest']}), quality {data['quality']}, "
                  f"token step {data['token_step']:.4g}, key frames {data['intra_codec']} QP {data['intra_qp']}")
    console.print(f"{data['frames']} frames, {data['width']}x{data['height']} "
                  f"(source {data['source_width']}x{data['source_height']}, {data['fit']}), "
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
        console.print(f"audio: Opus, {sound['channels']} channel(s), {sound['sample_rate']} Hz "
                      f"(source {sound['source_sample_rate']} Hz), {sound['seconds']} s from "
                      f"{sound['start_seconds']:+g} s, target {sound['target_bitrate'] / 1000:g} kbps")
    else:
        console.print("audio: none")
    console.print(table)
    notes = [f"{n} {what}" for n, what in (
        (data["token_chunks_older_reference"], "rebuilt from an earlier key frame than their run's"),
        (data["token_chunks_blended"], "blending in a second key frame")) if n]
    console.print(f"{data['token_chunks']} token chunks"
                  + (f" ({'; '.join(notes)})" if notes else "")
                  + f", {data['bits_per_token_frame']} bits per predicted frame, "
                  f"{data['bits_per_pixel']} bits per pixel")
    keys = ", ".join(f"{k['frame']} ({k['reason']}{', predicted' if k['codec'] == 'hevc-p' else ''}, "
                     f"{k['bytes']} B)" for k in data["key_frames"])
    console.print(f"key frames: {keys}")

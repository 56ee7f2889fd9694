"""`imfcodec encode`: a video into an .imf file, and what it says about the input and the
result."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError, OutputError
from .common import (STDIO, audio_options, check_stdout, emit_json, encode_options,
                     output_options, stdout_bytes)


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--model", "model_name", default=None, help="Shipped model name or .safetensors path.")
@encode_options()
@click.option("--bitrate", default=None,
              help="Target average rate of the file, sound included, e.g. 8k: chooses quality, "
                   "token step, key-frame QP, unless given the refresh policy (adaptive, or one "
                   "key frame below its floor rate) and the sound's rate (docs/cli.md).")
@click.option("--video-bitrate", default=None,
              help="As --bitrate, for the video alone (the sound comes on top).")
@audio_options
@click.option("--no-audio", is_flag=True, help="Drop the input's sound on purpose.")
@output_options("Overwrite TARGET if it exists.")
def encode(source, target, model_name, bitrate, video_bitrate, audio_bitrate, audio_channels,
           audio_stream, no_audio, device, force, quiet, as_json, **chosen):
    """Encode the video SOURCE (anything FFmpeg reads) into the .imf file TARGET, with its
    first audio stream (or --audio-stream's) coded with Opus (unless --no-audio)."""
    from ..audio import AudioSettings
    from ..codec import Codec
    from ..console import console, progress_bar
    from ..options import EncodeSettings
    from ..ratecontrol import parse_bitrate

    _check_encode_paths(source, target, force, as_json)
    if bitrate and video_bitrate:
        raise click.UsageError("give --bitrate or --video-bitrate, not both")
    # (the target is read once, here, and given to the codec as a number of bits a second)
    target_kbps = parse_bitrate(bitrate or video_bitrate, "--bitrate" if bitrate else
                                "--video-bitrate") if bitrate or video_bitrate else None
    audio = None if no_audio else AudioSettings(
        None if audio_bitrate is None else round(parse_bitrate(audio_bitrate, "--audio-bitrate") * 1000),
        audio_channels, audio_stream)
    settings = EncodeSettings(**chosen)
    codec = Codec.load(model_name, device)
    clip = codec.open(source, settings.fit, settings.size)
    talk = not (quiet or as_json)
    if talk:
        console.print(_input_line(clip, codec, settings.fit, f"target {target_kbps:g} kbps"
                                  if target_kbps else f"quality {settings.quality}"), markup=False)
    if not quiet:
        for note in _input_notes(clip, settings.fit):
            console.print(note, markup=False)
    if target_kbps:
        rate = {"bitrate" if bitrate else "video_bitrate": target_kbps * 1000}
        stream = codec.encode(clip, settings, audio=audio, notify=console.print if talk else None,
                              **rate)
    else:
        passes = settings.options(clip.fps).passes()  # the bar counts each pass
        with progress_bar("encode", clip.info.frames * passes if clip.info.frames else None,
                          talk) as advance:
            stream = codec.encode(clip, settings, progress=advance, audio=audio)
    if str(target) == STDIO:
        stdout_bytes(stream.data)
    else:
        stream.save(target, force)
    summary = {"input": str(source), "output": str(target), **stream.summary(),
               "quality": settings.quality, "refine_steps": settings.refine,
               "key_placement": settings.key_placement, "picture_notes": list(clip.notes)}
    summary["audio_action"] = _audio_action(clip, stream, no_audio)
    summary["audio_notes"] = _audio_notes(stream)
    if as_json:
        emit_json(summary)
    elif not quiet:
        console.print(summary["audio_action"], markup=False)
        for note in summary["audio_notes"]:
            console.print(note, markup=False)
        _say_encoded(stream, target)
    if not stream.complete and not quiet:
        console.print(f"warning: read {stream.stats.frames} of the {summary['frames_announced']} "
                      f"frames the input announces (truncated or damaged?); the .imf holds "
                      f"the {stream.stats.frames} read", markup=False)


def _check_encode_paths(source: Path, target: Path, force: bool, as_json: bool) -> None:
    """Refused before any work: stdin as input, an output that is not .imf, that is the
    input, that exists without --force, or standard output that is a terminal or taken."""
    from ..io.atomic import check_target, special

    from ..io.reader import standard_input

    if standard_input(source):  # - or /dev/stdin: the input is read more than once
        raise InputError("reading video from standard input is not supported; give a file")
    if str(target) == STDIO:
        check_stdout(as_json)
        return
    check_target(target, force, inputs=[source])
    if target.suffix.lower() != ".imf" and not special(target):
        raise OutputError(f"{target}: encode writes .imf files; name the output NAME.imf")


def _input_notes(clip, fit: str) -> list[str]:
    """What was done to the input beyond cropping and resizing, and what may surprise."""
    info, notes = clip.info, list(clip.notes)
    if info.rotation:
        notes.append(f"turned {info.rotation} degrees counter-clockwise, as the input's display "
                     f"rotation asks")
    if info.resampled is not None:
        r = info.resampled
        notes.append(f"variable frame rate: resampled to {float(r.fps):g} fps ({r.repeated} "
                     f"frames repeated, {r.dropped} dropped) so that it keeps its "
                     f"{r.frames / float(r.fps):.2f} s")
    if isinstance(clip.size, int) and fit == "crop" and info.crop_share < 0.5:
        notes.append(f"warning: the centre square crop keeps {100 * info.crop_share:.1f} % of the "
                     f"{info.width}x{info.height} picture; --fit pad keeps all of it")
    return notes


def _input_line(clip, codec, fit: str, what: str) -> str:
    if isinstance(clip.size, int):
        how = "centre square crop" if fit == "crop" else "padded to a square"
        out = f"{clip.size}x{clip.size} ({how})"
    else:
        out = f"{clip.size[0]}x{clip.size[1]}"
    return (f"{clip.name}: {clip.info.width}x{clip.info.height} at {float(clip.fps):.3f} fps -> "
            f"{out}, model {codec.model.name}, {what}")


def _audio_action(clip, stream, no_audio: bool) -> str:
    """One line on what became of the input's sound."""
    from ..io.audio import probe_audio

    sound = stream.stats.audio
    if sound is not None:
        which = f"stream {sound['source_stream']} " if sound.get("source_streams", 1) > 1 else ""
        return (f"audio: {which}{sound['source_codec']} -> Opus {sound['channels']} channel(s) at "
                f"{sound['target_bitrate'] / 1000:g}k, {sound['seconds']:.2f} s, "
                f"{stream.stats.bytes_audio} B ({stream.stats.audio_kbps:.2f} kbps)")
    info = probe_audio(clip.path) if clip.path is not None else None
    if info is None:
        return "audio: the input has none"
    if no_audio:
        return f"audio: {info.codec} stream dropped (--no-audio)"
    return f"audio: the {info.codec} stream holds no samples; nothing to keep"


def _audio_notes(stream) -> list[str]:
    """What may surprise about the sound: other audio streams left out, sound that runs well
    past the video, a sound rate --bitrate lowered."""
    from ..audio import DEFAULT_BITRATE, LONGER, beyond

    stats, notes = stream.stats, []
    sound = stats.audio
    if sound is None:
        return notes
    streams = sound.get("source_streams", 1)
    if streams > 1:
        others = ", ".join(str(i) for i in range(streams) if i != sound["source_stream"])
        notes.append(f"note: the input has {streams} audio streams; only stream "
                     f"{sound['source_stream']} is kept (--audio-stream picks another: {others})")
    extra = beyond(stats.seconds, sound["start_seconds"], sound["seconds"])
    if extra > LONGER:
        notes.append(f"note: the sound ({sound['seconds']:.2f} s) is longer than the video "
                     f"({stats.seconds:.2f} s): all of it is kept, so players show the last "
                     f"picture for {extra:.2f} s; rates count the file over "
                     f"{stats.file_seconds:.2f} s")
    split = stream.rate_control.split if stream.rate_control is not None else None
    if split is not None and split.choice == "lowered":
        notes.append(f"note: the sound's rate was lowered from {DEFAULT_BITRATE / 1000:g}k to "
                     f"{split.audio_bitrate / 1000:g}k so that the {stream.rate_control.target_kbps:g}"
                     f" kbps target leaves the video {split.video_kbps:.2f} kbps "
                     f"(--audio-bitrate sets it, --video-bitrate targets the video alone)")
    return notes


def _say_encoded(stream, target) -> None:
    from ..console import console

    stats, rc = stream.stats, stream.rate_control
    if rc is not None:
        kbps = stats.kbps if rc.counts != "video" else stats.video_kbps
        off = 100 * (kbps - rc.target_kbps) / rc.target_kbps
        how = f"{kbps:.2f} kbps of {rc.counts} for the {rc.target_kbps:g} kbps target ({off:+.1f} %)"
        policy = "" if rc.policy == "as given" else f"refresh {rc.policy}, "
        settings = f"token step {stats.token_step:.4g}, key-frame QP {stats.intra_qp}"
        if rc.reached:
            console.print(f"rate control: {how}; {rc.passes} passes chose {policy}quality "
                          f"{rc.quality:.2f} ({settings})", markup=False)
        else:  # what was reached, and why no closer: not the search's internal numbers
            where = {"lowest": "the lowest rate this clip reaches (its coarsest settings)",
                     "highest": "the highest rate this clip reaches (its finest settings)"}.get(
                rc.end, f"the closest of {rc.passes} passes")
            console.print(f"rate control: {how}: {where}; chose {policy}{settings}", markup=False)
    if stats.step_raised_from is not None:
        console.print(f"note: the motion went past the quantiser's range at token step "
                      f"{stats.step_raised_from:.4g}: coded at step {stats.token_step:.4g}, where "
                      f"it fits", markup=False)
    sound = f", {stats.bytes_audio} B audio" if stats.audio else ""
    console.print(f"wrote {target}: {stats.bytes_total} bytes, {stats.frames} frames, "
                  f"{stats.kbps:.2f} kbps ({stats.bytes_key_frames} B key frames, "
                  f"{stats.bytes_tokens} B tokens{sound})", markup=False)

"""`imfcodec decode`: an .imf file (or standard input) to a video, frames or standard output."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import STDIO, check_stdout, emit_json, output_options, stdin_bytes


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--model", "model_name", default=None,
              help="Model name or path (default: the model named in the stream).")
@click.option("--no-audio", is_flag=True, help="Leave the sound out.")
@output_options("Overwrite TARGET (and the sound beside it) if it exists.")
def decode(source, target, model_name, device, no_audio, force, quiet, as_json):
    """Decode the .imf file SOURCE (- reads it from standard input) to TARGET: .mp4 (H.264),
    .mkv (FFV1 lossless), .y4m, a folder of PNG frames, or - for y4m on standard output. The
    sound goes inside an .mp4 or .mkv, and beside a .y4m or PNG folder as an Ogg Opus file
    (out.opus)."""
    from ..codec import Codec
    from ..console import console, progress_bar
    from ..io.atomic import check_target
    from ..io.reader import standard_input
    from ..io.writer import output_kind

    to_stdout = str(target) == STDIO
    if to_stdout:
        check_stdout(as_json)
    else:
        output_kind(target)
        check_target(target, force, inputs=[source])
    if standard_input(source):  # - (or /dev/stdin on a pipe): the .imf's bytes, all read now
        source = STDIO
        video = Codec.load(model_name, device).decode(stdin_bytes())
    else:
        video = Codec.load(model_name, device).decode(source)
    beside = None if to_stdout else video.sound_path(target, not no_audio)
    if beside is not None:
        check_target(beside, force, inputs=[source])
    with progress_bar("decode", video.frame_count, not (quiet or as_json)) as bar:
        if to_stdout:
            video.write(sys.stdout.buffer, ".y4m", bar, sound=False)
        else:
            video.save(target, force, bar, sound=not no_audio)
    if video.sound is None:
        sound = "audio: the stream has none"
    elif no_audio:
        sound = "audio: left out (--no-audio)"
    elif to_stdout:
        sound = "audio: left out (standard output carries the y4m video only)"
    else:
        sound = f"audio: Opus, {video.sound.channels} channel(s), " + \
                (f"written beside the frames to {beside}" if beside else f"muxed into {target}")
    summary = {"input": str(source), "output": str(target), "frames": video.frame_count,
               "fps": float(video.fps), "width": video.size[0], "height": video.size[1],
               "kbps": round(video.kbps, 4), "audio_action": sound,
               "audio_output": str(beside) if beside else (str(target) if "muxed" in sound else None)}
    if as_json:
        emit_json(summary)
    elif not quiet:
        console.print(f"wrote {target}: {video.frame_count} frames at {float(video.fps):.3f} fps, "
                      f"{video.size[0]}x{video.size[1]}", markup=False)
        console.print(sound, markup=False)

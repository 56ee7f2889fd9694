"""`imfcodec animate`: a still picture set in motion by a driving video."""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit_json, encode_options, output_options


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("driving", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--model", "model_name", default=None, help="Shipped model name or .safetensors path.")
@click.option("--relative/--absolute", default=True, show_default=True,
              help="Apply the driving video's motion from its first frame to the source "
                   "(relative), or the driving tokens as they are (absolute).")
@encode_options("size", "fit")
@click.option("--align/--no-align", default=True, show_default=True,
              help="Fit the source's head to the driving video's first frame (scale and "
                   "shift from their optical flow) before setting it in motion.")
@click.option("--no-audio", is_flag=True, help="Leave the driving video's sound out.")
@output_options("Overwrite TARGET (and the sound beside it) if it exists.")
def animate(source, driving, target, model_name, relative, size, fit, align, no_audio, device, force,
            quiet, as_json):
    """Set the still SOURCE (a picture, or a video's first frame) in motion with the DRIVING
    video's motion, and write TARGET (.mp4, .mkv, .y4m or a PNG folder) with the driving
    video's frame count, frame rate and sound."""
    from ..codec import Codec
    from ..console import console, progress_bar
    from ..io.atomic import check_target
    from ..io.output import sound_path
    from ..io.writer import output_kind

    output_kind(target)
    check_target(target, force, inputs=[source, driving])
    codec = Codec.load(model_name, device)
    animation = codec.animate(source, driving, relative=relative, fit=fit, sound=not no_audio,
                              align=align, size=size)
    talk = not (quiet or as_json)
    if talk:
        console.print(f"{animation.driving.name} drives {source}: model {codec.model.name}, "
                      f"{'relative' if relative else 'absolute'} motion", markup=False)
        console.print(animation.alignment.describe(), markup=False)
    motion = animation.motion  # noise, or cuts: said before the work, unless --quiet
    if not quiet and not motion.face_like:
        console.print(motion.warning(animation.driving.name), markup=False)
    sound = animation.sound()
    beside = sound_path(target, sound)
    counted = []
    with progress_bar("animate", animation.driving.info.frames, talk) as bar:
        def advance(n: int) -> None:
            counted.append(n)
            bar(n)

        animation.save(target, force, advance)
    summary = {"source": str(source), "driving": str(driving), "output": str(target),
               "model": codec.model.name, "relative": relative, "frames": sum(counted),
               "width": animation.size[0], "height": animation.size[1],
               "fps": float(animation.fps),
               "alignment": {"found": animation.alignment.found, "scale": animation.alignment.scale,
                             "shift": list(animation.alignment.shift)},
               "driving_motion": motion.to_dict(),
               "audio": None if sound is None else str(beside or target)}
    if as_json:
        emit_json(summary)
    elif not quiet:
        where = ("left out (--no-audio)" if no_audio else "the driving video has none"
                 if sound is None else f"written to {beside or target}")
        console.print(f"wrote {target}: {sum(counted)} frames at {float(animation.fps):.3f} fps, "
                      f"{animation.size[0]}x{animation.size[1]}; "
                      f"audio: {where}", markup=False)

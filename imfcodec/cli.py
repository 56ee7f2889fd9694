"""The imfcodec command line: one short function per command, typed errors to one line."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path

import click

from . import __version__
from .errors import IMFError, InputError, OutputError

EXIT_INTERNAL = 70
EXIT_PIPE = 141  # 128 + SIGPIPE (13): the reader of standard output went away (`| head`)
STDIO = "-"  # the output name for standard output


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled as Ctrl-C is: outputs are cleaned up on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_interrupt():
    """While a command runs, SIGTERM and SIGHUP raise Terminated (as SIGINT raises
    KeyboardInterrupt), so no partial output is left behind. A signal the caller set to be
    ignored stays ignored: `nohup imfcodec encode ...` goes on after its terminal closes."""
    def handler(signum, frame):
        raise Terminated(signum)

    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) != signal.SIG_IGN:
                previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Group(click.Group):
    """Turns library errors into one red line and an exit code (tracebacks with --debug)."""

    def invoke(self, ctx: click.Context):
        debug = ctx.params.get("debug", False)
        try:
            with _signals_interrupt():
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            _pipe_closed()
        except IMFError as exc:
            if debug:
                raise
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt as exc:
            if debug:
                raise
            signum = getattr(exc, "signum", signal.SIGINT)
            what = "interrupted" if signum == signal.SIGINT else \
                f"terminated by {signal.Signals(signum).name}"
            _fail(f"{what}; no output was written", 128 + signum)
        except Exception as exc:  # a bug: still one line, unless --debug
            if debug:
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
                  EXIT_INTERNAL)


def _pipe_closed() -> None:
    """A pipe we write to was closed by its reader (`imfcodec decode a.imf - | head -c 100`):
    normal use of a pipe, not an error. Ends at once with no message and the status the shell
    gives coreutils' programs, which SIGPIPE ends: 128 + 13 = 141 (docs/cli.md). Standard
    output is pointed at /dev/null first, so the interpreter's last flush of what is still
    buffered for the closed pipe does not report the same error again."""
    import os

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        fd = None
    if fd is not None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    sys.exit(EXIT_PIPE)


def _fail(message: str, code: int) -> None:
    from rich.markup import escape

    from .console import console

    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    sys.exit(code)


def _emit_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=None, sort_keys=True))


def options_of(cls: type, *names: str):
    """The click options of a settings class's fields (all with a command-line form, or
    ``names``), each with the bounds, choices, default and help declared on the field
    (optionspec.py); the command receives them under the fields' names."""
    from dataclasses import MISSING

    from .optionspec import base_type, flag_name, specs

    def one(name: str, spec, default, hint):
        kind = base_type(hint)
        decls = [flag_name(name, spec)] + ([spec.short] if spec.short else []) + [name]
        extra: dict = {"help": spec.help, "metavar": spec.metavar}
        if kind is bool:
            return click.option(*decls, is_flag=True, default=bool(default), **extra)
        if spec.choices:
            kind = click.Choice(spec.choices)
        elif spec.path:
            kind = click.Path(exists=spec.exists)
        elif kind in (int, float):
            ranged = click.IntRange if kind is int else click.FloatRange
            if spec.low is not None or spec.high is not None:
                kind = ranged(spec.low, spec.high, min_open=spec.low_open, max_open=spec.high_open)
        if default is MISSING:
            return click.option(*decls, type=kind, required=True, **extra)
        return click.option(*decls, type=kind, default=default, show_default=default is not None,
                            **extra)

    chosen = [(n, *v) for n, v in specs(cls).items() if v[0].cli and (not names or n in names)]
    if names and len(chosen) != len(names):
        raise KeyError(f"{cls.__name__} declares no command-line option among {names}")

    def apply(command):
        for item in reversed(chosen):
            command = one(*item)(command)
        return command

    return apply


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imfcodec")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def main(debug: bool) -> None:
    """Neural talking-head video codec (Implicit Motion Function)."""


def device_option(command):
    """--device, as train declares it (train/options.py)."""
    from .train.options import TrainOptions

    return options_of(TrainOptions, "device")(command)


def threads_option(command):
    """--threads N: the CPU threads of every library (device.use_threads: torch, OpenCV,
    FFmpeg's codecs), set before the command runs; the command's function does not see it."""
    import functools

    @functools.wraps(command)
    def run(*args, threads=None, **kwargs):
        from .device import use_threads

        use_threads(threads)
        return command(*args, **kwargs)

    return click.option(
        "--threads", default=None, metavar="N",  # checked by use_threads: one line
        help="CPU threads for torch, OpenCV and FFmpeg's codecs (default: OMP_NUM_THREADS, "
             "else the cores, at most 8). The .imf bytes do not depend on it.")(run)


def audio_options(command):
    """--audio-bitrate, --audio-channels and --audio-stream, by audio.AudioSettings' default
    and bounds."""
    from .audio import BITRATE_RANGE, CHANNELS, DEFAULT_BITRATE
    from .ratecontrol import VIDEO_MIN_KBPS

    lo, hi = (f"{bits // 1000}k" for bits in BITRATE_RANGE)
    command = click.option(
        "--audio-stream", type=click.IntRange(0), default=0, show_default=True,
        help="Which of the input's audio streams to keep, counted from 0 among its audio "
             "streams (encode says when it has several).")(command)
    command = click.option(
        "--audio-channels", type=click.IntRange(*CHANNELS), default=CHANNELS[0], show_default=True,
        help="1 mixes the sound down to mono; 2 keeps a stereo input stereo.")(command)
    return click.option(
        "--audio-bitrate", default=None,
        help=f"Opus rate of the sound ({lo}..{hi}). Default {DEFAULT_BITRATE // 1000}k, which "
             f"keeps speech wideband (docs/cli.md), lowered toward {lo} where --bitrate would "
             f"leave the video under {VIDEO_MIN_KBPS:g} kbps; a rate given is kept.")(command)


def encode_options(*names: str):
    """Encode options (options.EncodeSettings), all or ``names``."""
    from .options import EncodeSettings

    return options_of(EncodeSettings, *names)


@main.command()
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
@device_option
@threads_option
@click.option("--force", "-f", is_flag=True, help="Overwrite TARGET if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def encode(source, target, model_name, bitrate, video_bitrate, audio_bitrate, audio_channels,
           audio_stream, no_audio, device, force, quiet, as_json, **chosen):
    """Encode the video SOURCE (anything FFmpeg reads) into the .imf file TARGET, with its
    first audio stream (or --audio-stream's) coded with Opus (unless --no-audio)."""
    from .audio import AudioSettings
    from .codec import Codec
    from .console import console, progress_bar
    from .options import EncodeSettings
    from .ratecontrol import parse_bitrate

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
        _stdout_bytes(stream.data)
    else:
        stream.save(target, force)
    summary = {"input": str(source), "output": str(target), **stream.summary(),
               "quality": settings.quality, "refine_steps": settings.refine,
               "key_placement": settings.key_placement, "picture_notes": list(clip.notes)}
    summary["audio_action"] = _audio_action(clip, stream, no_audio)
    summary["audio_notes"] = _audio_notes(stream)
    if as_json:
        _emit_json(summary)
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
    from .io.atomic import check_target, special

    from .io.reader import standard_input

    if standard_input(source):  # - or /dev/stdin: the input is read more than once
        raise InputError("reading video from standard input is not supported; give a file")
    if str(target) == STDIO:
        _check_stdout(as_json)
        return
    check_target(target, force, inputs=[source])
    if target.suffix.lower() != ".imf" and not special(target):
        raise OutputError(f"{target}: encode writes .imf files; name the output NAME.imf")


def _check_stdout(as_json: bool) -> None:
    """Standard output as the output (-): not with --json, and not a terminal."""
    if as_json:
        raise InputError("--json and an output of - would both write to standard output")
    if sys.stdout.buffer.isatty():
        raise OutputError("standard output is a terminal; redirect it, or give a file name")


def _stdin_bytes() -> bytes:
    """All of standard input (an .imf piped in: `cat a.imf | imfcodec decode - a.mkv`)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("standard input is a terminal; pipe an .imf file into it "
                         "(cat a.imf | imfcodec decode - a.mkv), or give a file name")
    data = sys.stdin.buffer.read()
    if not data:
        raise InputError("standard input is empty; pipe an .imf file into it")
    return data


def _stdout_bytes(data: bytes) -> None:
    out = sys.stdout.buffer
    out.write(data)
    out.flush()


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
    from .io.audio import probe_audio

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
    from .audio import DEFAULT_BITRATE, LONGER, beyond

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
    from .console import console

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


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--model", "model_name", default=None,
              help="Model name or path (default: the model named in the stream).")
@device_option
@threads_option
@click.option("--no-audio", is_flag=True, help="Leave the sound out.")
@click.option("--force", "-f", is_flag=True, help="Overwrite TARGET (and the sound beside it) if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def decode(source, target, model_name, device, no_audio, force, quiet, as_json):
    """Decode the .imf file SOURCE (- reads it from standard input) to TARGET: .mp4 (H.264),
    .mkv (FFV1 lossless), .y4m, a folder of PNG frames, or - for y4m on standard output. The
    sound goes inside an .mp4 or .mkv, and beside a .y4m or PNG folder as an Ogg Opus file
    (out.opus)."""
    from .codec import Codec
    from .console import console, progress_bar
    from .io.atomic import check_target
    from .io.reader import standard_input
    from .io.writer import output_kind

    to_stdout = str(target) == STDIO
    if to_stdout:
        _check_stdout(as_json)
    else:
        output_kind(target)
        check_target(target, force, inputs=[source])
    if standard_input(source):  # - (or /dev/stdin on a pipe): the .imf's bytes, all read now
        source = STDIO
        video = Codec.load(model_name, device).decode(_stdin_bytes())
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
        _emit_json(summary)
    elif not quiet:
        console.print(f"wrote {target}: {video.frame_count} frames at {float(video.fps):.3f} fps, "
                      f"{video.size[0]}x{video.size[1]}", markup=False)
        console.print(sound, markup=False)


@main.command()
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
@device_option
@threads_option
@click.option("--force", "-f", is_flag=True, help="Overwrite TARGET (and the sound beside it) if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def animate(source, driving, target, model_name, relative, size, fit, align, no_audio, device, force,
            quiet, as_json):
    """Set the still SOURCE (a picture, or a video's first frame) in motion with the DRIVING
    video's motion, and write TARGET (.mp4, .mkv, .y4m or a PNG folder) with the driving
    video's frame count, frame rate and sound."""
    from .codec import Codec
    from .console import console, progress_bar
    from .io.atomic import check_target
    from .io.output import sound_path
    from .io.writer import output_kind

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
        _emit_json(summary)
    elif not quiet:
        where = ("left out (--no-audio)" if no_audio else "the driving video has none"
                 if sound is None else f"written to {beside or target}")
        console.print(f"wrote {target}: {sum(counted)} frames at {float(animation.fps):.3f} fps, "
                      f"{animation.size[0]}x{animation.size[1]}; "
                      f"audio: {where}", markup=False)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(source, as_json):
    """Show the header of an .imf file, its key frames, and where the bytes went."""
    from .info import describe, render

    data = describe(source)
    if as_json:
        _emit_json(data)
    else:
        render(data)


@main.command()
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("test", type=click.Path(path_type=Path))
@click.option("--frames", type=click.IntRange(1), default=None, help="Compare only the first N frames.")
@click.option("--no-vmaf", is_flag=True, help="PSNR and MS-SSIM only (VMAF takes the most time).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object, with every frame's value of every metric.")
def compare(reference, test, frames, no_vmaf, as_json):
    """Measure TEST against REFERENCE frame by frame: PSNR, MS-SSIM, VMAF and VMAF-NEG."""
    from .compare import compare as measure
    from .compare import render

    data = measure(reference, test, vmaf=not no_vmaf, frames=frames)
    if as_json:
        _emit_json(data)
    else:
        render(data)


@main.command()
@click.argument("clips", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for results.json/.csv, bd_rate.json, rd_<metric>.png, per_clip/.")
@click.option("--codecs", default="static,imf,imf-adaptive,x264,x265,svtav1", show_default=True,
              help="Comma-separated: static (the key frames alone), imf, imf-adaptive, x264, "
                   "x265, svtav1.")
@click.option("--qualities", default=None,
              help="imfcodec settings, e.g. 0,2,4: quality levels 0..7, and -4..-1 for the "
                   "coarser settings --bitrate reaches (default: 0..7).")
@click.option("--frames", type=click.IntRange(1), default=None, help="Code only the first N frames.")
@click.option("--model", "model_name", default=None,
              help="Shipped model name or .safetensors path; several, comma-separated, are "
                   "measured side by side (rows named by model: imf-flow, imf-flow-adaptive).")
@encode_options("refine", "key_placement")
@click.option("--references", "references", default="1", show_default=True,
              help="As encode's --references, for the imf-adaptive rows; several, comma-"
                   "separated (1,4), are measured side by side (rows imf-adaptive, "
                   "imf-adaptive-r4, and the BD-rate of each against the one before).")
@click.option("--svtav1-sizes", default="1,2,3,4", show_default=True,
              help="SVT-AV1 is also coded with each side divided by these (1: full size), scaled "
                   "back up with Lanczos; rows svtav1@1/2 ..., and their upper envelope "
                   "svtav1-best, the anchor of a user who picks the best size.")
@click.option("--no-vmaf", is_flag=True, help="PSNR and MS-SSIM only (VMAF takes the most time).")
@device_option
@threads_option
@click.option("--force", "-f", is_flag=True, help="Replace OUT if it holds an earlier bench.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the results as one JSON object (every row, with its per-frame values).")
def bench(clips, out_dir, codecs, qualities, frames, model_name, refine, key_placement,
          references, svtav1_sizes, no_vmaf, device, force, as_json):
    """Rate against PSNR, MS-SSIM, VMAF and VMAF-NEG for imfcodec and x264, x265, SVT-AV1 (at
    several sizes) on CLIPS, with BD-rates."""
    from .bench import rd, results
    from .codec import Codec
    from .console import console
    from .io.atomic import atomic_path, check_target
    from .source import Source

    names, settings = rd.parse_codecs(codecs), rd.parse_settings(qualities)
    references = rd.parse_references(references)
    divisors = rd.parse_divisors(svtav1_sizes)
    # The output and every input are checked before any work (a bench runs for many minutes).
    check_target(out_dir, force)
    if out_dir.exists() and not (out_dir.is_dir() and results.ours(out_dir)):
        raise OutputError(f"{out_dir} exists and is not an imfcodec output folder; not replacing it")
    sources = [Source.open(clip) for clip in clips]
    wanted = [m.strip() for m in (model_name or "").split(",") if m.strip()] or [None]
    models = [Codec.load(m, device) for m in wanted] if set(names) & set(rd.IMF_MODES) else []
    say = (lambda m: None) if as_json else console.print
    rows = rd.run(sources, names, models, settings, frames, say, refine, key_placement,
                  references, divisors, not no_vmaf)
    if not rows:
        raise IMFError("nothing was measured")
    with atomic_path(out_dir, force, directory=True, replaceable=results.ours) as tmp:
        measured = [{"name": c.model.name, "digest": c.model.digest.hex()} for c in models]
        summary = results.write(rows, tmp, measured, refine, key_placement,
                                rd.our_labels(names, models, references), references)
    if as_json:
        _emit_json(summary | {"out": str(out_dir)})
    else:
        results.render(summary)
        plots = ", ".join(f"rd_{m}.png" for m in results.plotted(summary["mean_curves"]))
        console.print(f"wrote {out_dir}/: results.json, results.csv, bd_rate.json, {plots}, per_clip/")


def train_options(command):
    """Every command-line field of train/options.TrainOptions."""
    from .train.options import TrainOptions

    return options_of(TrainOptions)(command)


@main.command()
@train_options
@click.option("--resume", is_flag=True, help="Continue from OUT/ckpt if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(resume, quiet, **chosen):
    """Train an IMF model (the same command on a CPU, a GPU, or torchrun's many GPUs)."""
    from .console import console, training_bar
    from .train.loop import train as run_training
    from .train.options import TrainOptions

    options = TrainOptions(**chosen, name=f"imf-{chosen['preset']}")

    def log(entry) -> None:
        if isinstance(entry, dict):
            entry = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in entry.items())
        console.print(entry)

    with training_bar(options.steps, enabled=not quiet) as on_step:
        run_training(options, resume=resume, log=log, on_step=on_step)


@main.command()
@click.argument("checkpoint", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "target", required=True, type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Model name to store (default: the checkpoint's).")
@click.option("--force", "-f", is_flag=True)
def export(checkpoint, target, name, force):
    """Strip training state from CHECKPOINT: fp16 weights and config for shipping."""
    from .console import console
    from .io.atomic import atomic_path
    from .train.checkpoint import export as export_weights

    with atomic_path(target, force) as tmp:
        export_weights(checkpoint, tmp, name)
    console.print(f"wrote {target} ({target.stat().st_size} bytes)")


@main.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "target", required=True, type=click.Path(path_type=Path),
              help="The flow model's weights file (.safetensors) to write.")
@click.option("--directions", type=click.IntRange(1, 512), default=64, show_default=True,
              help="Principal directions kept: the numbers in each frame's token.")
@click.option("--grid", type=click.IntRange(2), default=32, show_default=True,
              help="Flows are averaged on a GRID x GRID grid (a divisor of the image size).")
@click.option("--pairs-per-clip", type=click.IntRange(1), default=160, show_default=True)
@click.option("--preset", type=click.Choice(["ultrafast", "fast", "medium"]), default="medium",
              show_default=True, help="DIS optical flow preset, for the build and the encoder.")
@click.option("--token-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="The quantiser's unit at token step 1, in pixels (RMS).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--name", default="imf-flow", show_default=True, help="Model name to store.")
@click.option("--force", "-f", is_flag=True)
def dictionary(data, target, directions, grid, pairs_per_clip, preset, token_scale, seed, name, force):
    """Build a flow model (a motion dictionary: principal directions of DIS flows) from the
    clips in DATA. Closed form: minutes on one CPU core, no GPU."""
    from .console import console, progress_bar
    from .io.atomic import check_target, write_bytes
    from .motion.flow import FlowConfig
    from .train.dictionary import DictionaryOptions, build, clips_in

    check_target(target, force)
    try:
        config = FlowConfig(grid=grid, directions=directions, token_scale=token_scale, preset=preset)
    except ValueError as exc:
        raise InputError(f"--grid: {exc}") from None
    paths = clips_in(data)
    with progress_bar("dictionary", len(paths), unit="clips") as bar:
        data_bytes = build(paths, DictionaryOptions(config, pairs_per_clip, seed, name), bar)
    write_bytes(target, data_bytes, force)
    console.print(f"wrote {target} ({len(data_bytes)} bytes)")


@main.command("train-refiner")
@click.argument("model_name", metavar="MODEL")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Training clips.")
@click.option("--val", required=True, type=click.Path(path_type=Path), help="Held-out clips.")
@click.option("--out", "target", required=True, type=click.Path(path_type=Path),
              help="The flow model with its correction network (written when validation improves).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=8, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--eval-every", type=click.IntRange(1), default=200, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None, help="CPU threads for torch.")
@click.option("--force", "-f", is_flag=True)
def train_refiner(model_name, data, val, target, minutes, batch, lr, eval_every, threads, force):
    """Train the correction network of a flow MODEL (teacher-forced coefficients; CPU-sized)."""
    from .console import console, progress_bar
    from .errors import ModelError
    from .io.atomic import check_target
    from .motion import load
    from .motion.flow import FlowMotion
    from .train import refiner
    from .train.dictionary import clips_in

    check_target(target, force)
    if threads:
        from .device import use_threads

        use_threads(threads)
    model = load(model_name)
    if not isinstance(model, FlowMotion):
        raise ModelError(f"{model.name} is not a flow model; only flow models have a correction network")
    options = refiner.RefinerOptions(minutes=minutes, batch=batch, lr=lr, eval_every=eval_every)
    sets = []
    for folder, keys in ((data, options.keys_per_clip), (val, 2)):
        paths = clips_in(folder)
        with progress_bar(f"examples {folder.name}", len(paths), unit="clips") as bar:
            sets.append(refiner.examples(model, paths, keys, options.frames_per_key, options.seed, bar))
    result = refiner.train(model, sets[0], sets[1], target, options, console.print, force=force)
    if result["best"] > result["warp"]:
        console.print(f"wrote {target}: validation MS-SSIM {result['best']:.4f} "
                      f"(the warp alone: {result['warp']:.4f}) after {result['steps']} steps")
    else:
        console.print(f"validation never beat the warp alone ({result['warp']:.4f}); nothing written")


from .cli_live import register as _register_live  # noqa: E402

_register_live(main, emit_json=_emit_json, device_option=device_option,
               threads_option=threads_option)

if __name__ == "__main__":
    main()

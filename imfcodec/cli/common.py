"""What the commands share: their common options (settings declared once, optionspec.py),
JSON output, standard input and output, and messages."""

from __future__ import annotations

import json
import sys

import click

from ..errors import InputError, OutputError

STDIO = "-"  # the output name for standard output


def emit_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=None, sort_keys=True))


def options_of(cls: type, *names: str):
    """The click options of a settings class's fields (all with a command-line form, or
    ``names``), each with the bounds, choices, default and help declared on the field
    (optionspec.py); the command receives them under the fields' names."""
    from dataclasses import MISSING

    from ..optionspec import base_type, flag_name, specs

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


def device_option(command):
    """--device, as the settings declare it (device.DEVICES, DEVICE_HELP)."""
    from ..device import DEVICE_HELP, DEVICES

    return click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                        help=DEVICE_HELP)(command)


def threads_option(command):
    """--threads N: the CPU threads of every library (device.use_threads: torch, OpenCV,
    FFmpeg's codecs), set before the command runs; the command's function does not see it."""
    import functools

    @functools.wraps(command)
    def run(*args, threads=None, **kwargs):
        from ..device import use_threads

        use_threads(threads)
        return command(*args, **kwargs)

    return click.option(
        "--threads", default=None, metavar="N",  # checked by use_threads: one line
        help="CPU threads for torch, OpenCV and FFmpeg's codecs (default: OMP_NUM_THREADS, "
             "else the cores, at most 8). The .imf bytes do not depend on it.")(run)


def output_options(force_help: str, quiet_help: str = "No progress bar or summary."):
    """--device, --threads, --force, --quiet and --json, in that order: what every command
    that runs the model and writes an output takes (``force_help`` says what --force
    overwrites)."""
    def apply(command):
        command = click.option("--json", "as_json", is_flag=True,
                               help="Print one JSON object with the results.")(command)
        command = click.option("--quiet", is_flag=True, help=quiet_help)(command)
        command = click.option("--force", "-f", is_flag=True, help=force_help)(command)
        return device_option(threads_option(command))

    return apply


def audio_options(command):
    """--audio-bitrate, --audio-channels and --audio-stream, by audio.AudioSettings' default
    and bounds."""
    from ..audio import BITRATE_RANGE, CHANNELS, DEFAULT_BITRATE
    from ..ratecontrol import VIDEO_MIN_KBPS

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
    from ..options import EncodeSettings

    return options_of(EncodeSettings, *names)


def check_stdout(as_json: bool) -> None:
    """Standard output as the output (-): not with --json, and not a terminal."""
    if as_json:
        raise InputError("--json and an output of - would both write to standard output")
    if sys.stdout.buffer.isatty():
        raise OutputError("standard output is a terminal; redirect it, or give a file name")


def stdin_bytes() -> bytes:
    """All of standard input (an .imf piped in: `cat a.imf | imfcodec decode - a.mkv`)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("standard input is a terminal; pipe an .imf file into it "
                         "(cat a.imf | imfcodec decode - a.mkv), or give a file name")
    data = sys.stdin.buffer.read()
    if not data:
        raise InputError("standard input is empty; pipe an .imf file into it")
    return data


def stdout_bytes(data: bytes) -> None:
    out = sys.stdout.buffer
    out.write(data)
    out.flush()


def say_to(quiet: bool, stderr: bool = False):
    """Messages to the console, or (``stderr``: standard output carries the video) to stderr."""
    from rich.markup import escape

    from ..console import console

    if quiet:
        return lambda message: None
    if stderr:
        return lambda message: click.echo(message, err=True)
    return lambda message: console.print(escape(message))

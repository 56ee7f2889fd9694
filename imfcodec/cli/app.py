"""The imfcodec command line's group: library errors to one red line and an exit code,
signals to a clean stop, and each command loaded from its module when it is used.

The commands live one module per group (cli/encode.py, decode.py, animate.py, inspect.py,
bench.py, live.py; the training commands in imfcodec/train/cli.py, so that nothing outside
imfcodec/train/ imports the training code). COMMANDS names where each is; only the command
run is imported (and `--help` imports them all to list them).
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys

import click

from .. import __version__
from ..errors import IMFError

EXIT_INTERNAL = 70
EXIT_PIPE = 141  # 128 + SIGPIPE (13): the reader of standard output went away (`| head`)

# command name -> "module:function"
COMMANDS = {
    "encode": "imfcodec.cli.encode:encode",
    "decode": "imfcodec.cli.decode:decode",
    "animate": "imfcodec.cli.animate:animate",
    "info": "imfcodec.cli.inspect:info",
    "compare": "imfcodec.cli.inspect:compare",
    "bench": "imfcodec.cli.bench:bench",
    "send": "imfcodec.cli.live:send",
    "receive": "imfcodec.cli.live:receive",
    "train": "imfcodec.train.cli:train",
    "export": "imfcodec.train.cli:export",
    "dictionary": "imfcodec.train.cli:dictionary",
    "train-refiner": "imfcodec.train.cli:train_refiner",
}


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
    """Turns library errors into one red line and an exit code (tracebacks with --debug), and
    loads each command from COMMANDS when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context | None, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

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

    from ..console import console

    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    sys.exit(code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imfcodec")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def main(debug: bool) -> None:
    """Neural talking-head video codec (Implicit Motion Function)."""

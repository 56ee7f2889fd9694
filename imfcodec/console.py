"""The rich Consoles (messages on stderr, reports on stdout) and the progress bars."""

from __future__ import annotations

import contextlib
from typing import Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

class _Console(Console):
    def on_broken_pipe(self) -> None:
        """A closed pipe is left to the command line (cli/app.py ends quietly, status 141),
        instead of rich's own exit with status 1."""
        self.quiet = True
        raise BrokenPipeError


console = _Console(stderr=True, highlight=False, soft_wrap=True)  # messages, progress, errors
stdout = _Console(highlight=False, soft_wrap=True)  # what a command reports (`imfcodec info`)


class Bar:
    """Callable progress: ``bar(n)`` advances by n frames; ``bar.set_total(n)`` once known."""

    def __init__(self, progress: Progress | None = None, task=None) -> None:
        self.progress, self.task = progress, task

    def __call__(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def set_total(self, total: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, total=total)


@contextlib.contextmanager
def progress_bar(label: str, total: int | None, enabled: bool = True,
                 unit: str = "frames") -> Iterator[Bar]:
    """Yields a Bar on stderr; a no-op Bar when disabled."""
    if not enabled:
        yield Bar()
        return
    columns = [TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        yield Bar(progress, progress.add_task(label, total=total))


@contextlib.contextmanager
def training_bar(total_steps: int, enabled: bool = True) -> Iterator:
    """Yields ``on_step(step, entry)`` that shows the step, loss and seconds per step."""
    if not enabled:
        yield lambda step, entry: None
        return
    columns = [TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
               TextColumn("loss {task.fields[loss]}  {task.fields[sec]} s/step"),
               TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("train", total=total_steps, loss="-", sec="-")

        def on_step(step: int, entry: dict) -> None:
            progress.update(task, completed=step, loss=f"{entry['loss']:.4f}", sec=f"{entry['sec']:.2f}")

        yield on_step

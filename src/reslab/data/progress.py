"""A rich progress bar for long data work (decoding, downloading), on terminals only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text


@contextmanager
def progress(
    description: str, total: int | None, *, unit: str = "images"
) -> Iterator[Callable[[int], None]]:
    """``with progress("decoding", n) as advance: ... advance(1)``: rate and ETA on stderr.

    Silent when stderr is not a terminal (logs, CI, tests), where a bar would be noise.
    """
    console = Console(stderr=True)
    if unit == "bytes":
        counter = (DownloadColumn(), TransferSpeedColumn())
    else:
        counter = (MofNCompleteColumn(), _Rate())
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        *counter,
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total, unit=unit)
        yield lambda n: bar.advance(task, n)


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} {task.fields['unit']}/s" if task.speed else "")

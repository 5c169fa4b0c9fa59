"""Training progress: a live bar on a terminal, one line per record otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def _fmt(metrics: dict[str, Any]) -> str:
    parts = []
    for key, label, spec in (
        ("lr", "lr", ".4g"), ("train_loss", "loss", ".3f"), ("train_top1_err", "err", ".2f"),
        ("test_top1_err", "test", ".2f"), ("val_top1_err", "val", ".2f"),
        ("images_per_s", "img/s", ".0f"),
    ):  # fmt: skip
        if metrics.get(key) is not None:
            unit = "%" if key.endswith("err") else ""
            parts.append(f"{label} {metrics[key]:{spec}}{unit}")
    return "  ".join(parts)


class TrainProgress:
    """``with TrainProgress(total, start) as p: p.update(iteration, **metrics)``."""

    def __init__(self, total: int, start: int, *, enabled: bool = True, title: str = "") -> None:
        self.total, self.start, self.enabled, self.title = total, start, enabled, title
        self.console = Console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.metrics: dict[str, Any] = {}
        self._t0 = time.monotonic()
        self._bar: Progress | None = None

    def __enter__(self) -> TrainProgress:
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"), console=self.console,
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(
                self.title, total=self.total, completed=self.start, metrics=""
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(
        self, iteration: int, metrics: dict[str, Any] | None = None, *, record: bool = False
    ) -> None:
        """Move to ``iteration``; ``record=True`` marks a new line of metrics."""
        self.metrics.update({k: v for k, v in (metrics or {}).items() if v is not None})
        if self._bar is not None:
            self._bar.update(self._task, completed=iteration, metrics=_fmt(self.metrics))
        elif self.enabled and record:
            done = iteration - self.start
            rate = done / max(time.monotonic() - self._t0, 1e-9)
            eta = (self.total - iteration) / rate if rate > 0 else float("inf")
            eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta < 8.64e5 else "?"
            print(
                f"{self.title} it {iteration}/{self.total}  {_fmt(self.metrics)}  ETA {eta_s}",
                file=sys.stderr, flush=True,
            )  # fmt: skip

    def note(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, highlight=False, markup=False)

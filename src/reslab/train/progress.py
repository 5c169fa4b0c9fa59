"""Training progress: a live two-line display on a terminal, one line per record otherwise.

The live display fits any width down to 80 columns (and degrades below): line 1 holds the
title, a bar, the iteration and the epoch; line 2 the times and metrics, added by priority
until the line is full, so that the iteration count, elapsed time and ETA never hide.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

# Line-2 fields in order of priority: the first ones are kept on the narrowest terminals.
_FIELDS = (
    ("test_top1_err", "test", ".2f"),
    ("train_top1_err", "err", ".2f"),
    ("train_loss", "loss", ".3f"),
    ("lr", "lr", ".4g"),
    ("val_top1_err", "val", ".2f"),
    ("images_per_s", "img/s", ".0f"),
)


def _fields(metrics: dict[str, Any]) -> list[str]:
    parts = []
    for key, label, spec in _FIELDS:
        if metrics.get(key) is not None:
            unit = "%" if key.endswith("err") else ""
            parts.append(f"{label} {metrics[key]:{spec}}{unit}")
    return parts


def clock(seconds: float | None) -> str:
    """1234.5 -> '0:20:34'; None (unknown) -> '-:--:--'."""
    if seconds is None or seconds != seconds or seconds > 8.64e6:
        return "-:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class _Rate:
    """Iterations per second of this session, from its first finished iteration on: the
    start-up (data, model, restore, the first step's lazy initialisation) is never counted,
    so the ETA after ``--resume`` is the time that remains."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] | None = None

    def update(self, iteration: int, now: float) -> None:
        if self.first is None:
            self.first = (now, iteration)
        self.last = (now, iteration)

    def eta(self, total: int) -> float | None:
        if self.first is None or self.last is None or self.last[1] <= self.first[1]:
            return None
        (t0, i0), (t1, i1) = self.first, self.last
        return (total - i1) * (t1 - t0) / (i1 - i0)


class SlowdownWatch:
    """Warn once when the training rate falls far below this session's best: on a CPU, the
    sign of other processes competing for the cores (issue 18 saw 690 -> 15-38 img/s on a
    loaded 2-core machine, recovering as soon as the load dropped)."""

    FACTOR = 4.0  # "far below": under a quarter of the best interval
    SETTLE = 2  # records before judging: the first intervals include start-up

    def __init__(self, threads: int) -> None:
        self.threads, self.best, self.seen, self.warned = threads, 0.0, 0, False

    def check(self, rate: float | None) -> str | None:
        if rate is None or self.warned:
            return None
        self.seen += 1
        if self.seen > self.SETTLE and self.best > 0 and rate * self.FACTOR < self.best:
            self.warned = True
            return (
                f"reslab: warning: training slowed to {rate:.0f} img/s from {self.best:.0f}: "
                f"other processes are probably competing for the CPU cores (torch runs "
                f"{_plural(self.threads, 'thread')} here). If the load stays, lower their "
                f"priority (nice), or stop with Ctrl-C and continue with threads that sleep "
                f"instead of spinning, or with one thread: OMP_WAIT_POLICY=PASSIVE (or "
                f"OMP_NUM_THREADS=1) reslab train --resume RUN_DIR (docs/performance.md)"
            )
        if self.seen > 1:
            self.best = max(self.best, rate)
        return None


class TrainProgress:
    """``with TrainProgress(total, start) as p: p.update(iteration, **metrics)``.

    ``header`` lines are printed once before the first step; ``iters_per_epoch`` adds the
    epoch; ``elapsed_before`` is the run's wall time in earlier sessions (``--resume``).
    """

    def __init__(
        self,
        total: int,
        start: int,
        *,
        enabled: bool = True,
        title: str = "",
        header: Sequence[str] = (),
        iters_per_epoch: int | None = None,
        elapsed_before: float = 0.0,
        cpu_threads: int | None = None,
        console: Console | None = None,
    ) -> None:
        self.total, self.start, self.enabled, self.title = total, start, enabled, title
        self.header, self.ipe, self.before = list(header), iters_per_epoch, elapsed_before
        self.console = console or Console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.metrics: dict[str, Any] = {}
        self.iteration = start
        self._t0 = time.monotonic()
        self._rate = _Rate()
        self._live: Live | None = None
        self._watch = SlowdownWatch(cpu_threads) if cpu_threads else None

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            for line in self.header:
                self.console.print(line, highlight=False, markup=False, soft_wrap=True)
            if self.start > 0:
                self.note(f"resuming from iteration {self.start:,} of {self.total:,}")
        if self.live:
            self._live = Live(
                _Display(self), console=self.console, refresh_per_second=2, transient=False
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def update(
        self, iteration: int, metrics: dict[str, Any] | None = None, *, record: bool = False
    ) -> None:
        """Move to ``iteration``; ``record=True`` marks a new line of metrics."""
        self.metrics.update({k: v for k, v in (metrics or {}).items() if v is not None})
        if iteration != self.iteration:
            self._rate.update(iteration, time.monotonic())
        self.iteration = iteration
        if self._live is None and self.enabled and record:
            print(self.log_line(), file=sys.stderr, flush=True)
        if record and self._watch is not None:
            warning = self._watch.check((metrics or {}).get("images_per_s"))
            if warning:
                self.note(warning)

    def note(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, highlight=False, markup=False)

    # --- what is shown -----------------------------------------------------------------

    def elapsed(self) -> float:
        return self.before + time.monotonic() - self._t0

    def eta(self) -> float | None:
        return self._rate.eta(self.total)

    def position(self) -> str:
        text = f"{self.iteration:,}/{self.total:,}"
        if self.ipe:
            text += f" · ep {self.iteration / self.ipe:.1f}/{self.total / self.ipe:.3g}"
        return text

    def times(self) -> str:
        return f"{clock(self.elapsed())} elapsed · ETA {clock(self.eta())}"

    def log_line(self) -> str:
        return "  ".join(
            [f"{self.title} it {self.position()}", self.times(), *_fields(self.metrics)]
        )


class _Display:
    """The live renderable: recomputed at every refresh, at the console's current width."""

    def __init__(self, progress: TrainProgress) -> None:
        self.p = progress

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        p, width = self.p, options.max_width
        top = Table.grid(padding=(0, 1))
        top.add_column(no_wrap=True)
        top.add_column(ratio=1)
        top.add_column(no_wrap=True, justify="right")
        top.add_row(
            Text(p.title, style="bold"),
            ProgressBar(total=max(p.total, 1), completed=p.iteration),
            Text(p.position()),
        )
        yield top
        line = p.times()
        for field in _fields(p.metrics):
            if len(line) + 3 + len(field) > width:
                break
            line += f" · {field}"
        yield Text(line[:width], no_wrap=True, overflow="ellipsis")


def channels_text(n: int) -> str:
    return {1: "grayscale (1 channel)", 3: "RGB (3 channels)"}.get(n, f"{n} channels")


def run_header(s: Any, out: Path) -> list[str]:
    """What the run is, printed once before the first step (``s``: a train Session)."""
    import torch

    from reslab.bf16 import emulated
    from reslab.models import count_params
    from reslab.train.schedules import describe_schedule

    cfg, d = s.config, s.loaders.description
    model = s.eval_model
    options = ", ".join(f"{k}={v}" for k, v in cfg.model.options.items())
    hw = d["input_size"] if isinstance(d["input_size"], list | tuple) else [d["input_size"]] * 2
    compiled = ", compiled" if cfg.model.compile is True else ""
    kernels = " (emulated)" if emulated(s.device, cfg.run.precision) else ""
    world = f", {s.dist.world_size} processes" if s.dist.world_size > 1 else ""
    schedule = describe_schedule(cfg.schedule, cfg.optim.lr, s.iters_per_epoch, model.depth)
    val = f" / {d['val_images']:,} val" if d.get("val_images") else ""
    return [
        f"model     {cfg.model.name}, {count_params(model):,} parameters"
        + (f" ({options})" if options else ""),
        f"recipe    {cfg.recipe}: batch {cfg.optim.batch_size}, lr {cfg.optim.lr:g}",
        f"schedule  {schedule[0]}",
        *(f"          {line}" for line in schedule[1:]),
        f"data      {d['source']} ({d['format']}, {d['classes']} classes)",
        f"          {d['train_images']:,} train{val} / {d['test_images']:,} test images, "
        f"{hw[0]}x{hw[1]} {channels_text(s.loaders.in_chans)}",
        f"          normalisation {d['normalization']}, augment {d['augment']}",
        f"device    {s.device}, {cfg.run.precision}{kernels}{compiled}, "
        f"{_plural(torch.get_num_threads(), 'thread')}{world}",
        f"run dir   {out}",
    ]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"

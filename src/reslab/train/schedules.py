"""Learning-rate schedules as pure functions of the iteration.

Two schedules depend on what happened during training: the paper's warm-up for ResNet-110
ends when the training error first falls below 80 %, and the ImageNet schedule drops the
rate when the error plateaus. The loop records those moments in :class:`ScheduleEvents`
(saved in checkpoints), and the rate stays a pure function of ``(step, config, events)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from reslab.train.config import ScheduleConfig


@dataclass(frozen=True)
class ScheduleEvents:
    # "until_error" warm-up: the first iteration run at the full rate; None while warming.
    warmup_end: int | None = 0
    # "plateau": the iterations from which the rate was multiplied by gamma once more.
    drops: tuple[int, ...] = ()


def lr_at(step: int, s: ScheduleConfig, base_lr: float, events: ScheduleEvents) -> float:
    """The learning rate for iteration ``step`` (0-based) of a finalized schedule."""
    total = s.iterations
    assert total is not None, "finalize() the config before asking for learning rates"
    if s.warmup == "until_error" and (events.warmup_end is None or step < events.warmup_end):
        return s.warmup_lr
    if s.warmup == "constant" and step < s.warmup_iterations:
        return s.warmup_lr
    w = s.warmup_iterations if s.warmup == "linear" else 0
    if step < w:
        return base_lr * (step + 1) / w
    if s.kind == "steps":
        return base_lr * s.gamma ** sum(step >= m for m in s.milestones)
    if s.kind == "plateau":
        return max(base_lr * s.gamma ** sum(step >= d for d in events.drops), s.plateau_min_lr)
    progress = min(1.0, (step - w) / max(1, total - w))
    if s.kind == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * progress))
    if s.kind == "onecycle":
        return base_lr * (1 - progress)
    raise ValueError(f"unknown schedule kind {s.kind!r}")


def warmup_applies(s: ScheduleConfig, depth: int) -> bool:
    """The paper warms up only its deepest nets (110 layers and more, Sec. 4.2)."""
    return s.warmup == "until_error" and depth >= s.warmup_min_depth


def plateaued(errors: Sequence[float], s: ScheduleConfig) -> bool:
    """True when the last ``plateau_patience`` errors did not beat the best before them by
    ``plateau_threshold`` points. ``errors`` are the monitored errors since the last drop."""
    k = s.plateau_patience
    if len(errors) <= k:
        return False
    best_before = min(errors[:-k])
    return min(errors[-k:]) > best_before - s.plateau_threshold


def describe_schedule(
    s: ScheduleConfig, base_lr: float, iters_per_epoch: int, depth: int | None = None
) -> list[str]:
    """Lines for ``--dry-run`` and the training header: the length and each phase's rate.

    ``s`` is finalized; ``depth`` (when known) says whether the paper's warm-up applies.
    """
    total = s.iterations
    assert total is not None, "finalize() the config before describing its schedule"
    epochs = total / iters_per_epoch
    lines = [f"{s.kind}, {total:,} iterations = {epochs:.4g} epochs of {iters_per_epoch:,}"]
    start = 0
    if s.warmup == "until_error":
        who = f"models of {s.warmup_min_depth}+ layers" if s.warmup_min_depth else "all models"
        if depth is not None:
            who += " (this one)" if depth >= s.warmup_min_depth else f" (not this one: {depth})"
        lines.append(
            f"warm-up: lr {s.warmup_lr:g} until the training error is below "
            f"{s.warmup_until_err:g} %, for {who}"
        )
    elif s.warmup == "linear":
        start = s.warmup_iterations
        lines.append(f"warm-up: iterations 0-{start - 1:,}: lr rises linearly to {base_lr:g}")
    if s.kind == "steps":
        points = [start, *[m for m in s.milestones if m > start], total]
        for a, b in itertools.pairwise(points):
            if b > a:
                lr = lr_at(a, s, base_lr, ScheduleEvents())
                lines.append(f"iterations {a:,}-{b - 1:,}: lr {lr:.4g}")
    elif s.kind == "plateau":
        lines.append(
            f"iterations {start:,}-{total - 1:,}: lr {base_lr:g}, x{s.gamma:g} after "
            f"{s.plateau_patience} evaluations without a {s.plateau_threshold:g}-point "
            f"gain (at least {s.plateau_min_lr:g})"
        )
    else:
        shape = "cosine" if s.kind == "cosine" else "linear"
        end = lr_at(total - 1, s, base_lr, ScheduleEvents())
        lines.append(
            f"iterations {start:,}-{total - 1:,}: lr {base_lr:g} -> {end:.3g} ({shape} decay)"
        )
    return lines

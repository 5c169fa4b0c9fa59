"""Learning-rate schedules as pure functions of the iteration.

Two schedules depend on what happened during training: the paper's warm-up for ResNet-110
ends when the training error first falls below 80 %, and the ImageNet schedule drops the
rate when the error plateaus. The loop records those moments in :class:`ScheduleEvents`
(saved in checkpoints), and the rate stays a pure function of ``(step, config, events)``.
"""

from __future__ import annotations

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

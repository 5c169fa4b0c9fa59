"""Mutable training state and its round trip through checkpoints.

Everything needed to continue a run exactly: the iteration (which fixes the position in
the data order, since loaders are pure functions of it), schedule events, the partial
sums of the current logging interval, best-so-far bookkeeping and RNG states.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from reslab.train.schedules import ScheduleEvents


@dataclass
class IntervalMeter:
    """Sums over the iterations since the last train record; tensors stay on the device
    so that the loop never waits for the GPU between records."""

    loss_sum: torch.Tensor
    misses: torch.Tensor
    samples: int = 0
    iterations: int = 0
    seconds: float = 0.0

    @classmethod
    def zeros(cls, device: torch.device) -> IntervalMeter:
        return cls(
            torch.zeros((), device=device, dtype=torch.float64),
            torch.zeros((), device=device, dtype=torch.int64),
        )

    def add(self, loss: torch.Tensor, misses: torch.Tensor, batch: int) -> None:
        self.loss_sum += loss.double() * batch
        self.misses += misses
        self.samples += batch
        self.iterations += 1


@dataclass
class TrainState:
    iteration: int = 0
    events: ScheduleEvents = field(default_factory=ScheduleEvents)
    plateau_errors: list[float] = field(default_factory=list)  # monitored, since last drop
    best_err: float = float("inf")
    best_iteration: int = -1
    test_err_at_best: float | None = None
    last_train_err: float | None = None  # of the latest train record
    wall_s: float = 0.0  # training time over all sessions of this run

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["events"] = {"warmup_end": self.events.warmup_end, "drops": list(self.events.drops)}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        ev = d["events"]
        return cls(**{**d, "events": ScheduleEvents(ev["warmup_end"], tuple(ev["drops"]))})


def rng_state(device: torch.device) -> dict[str, Any]:
    # Training draws no numpy or Python random numbers (data randomness is a function of
    # the seed and the position), so torch's generators are the whole RNG state.
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)

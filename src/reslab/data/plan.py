"""Who gets which sample: the epoch's order and each rank's share, for both loaders.

A batch is a pure function of ``(seed, epoch, batch index)``: training order depends only
on ``(seed, epoch)``, so any world size and any resume point see the same global batches.
Ranks take their ``batch_size // world_size`` slice of every global batch (training) or a
contiguous shard of the split (evaluation).
"""

from __future__ import annotations

import numpy as np
import torch

from reslab.errors import OptionError

Batch = tuple[torch.Tensor, torch.Tensor]


def derive_seed(*keys: int) -> int:
    """A well-mixed 64-bit seed from integers (NumPy's SeedSequence hashing)."""
    state = np.random.SeedSequence([k & 0xFFFF_FFFF_FFFF_FFFF for k in keys]).generate_state(1)
    return int(state[0])


class Plan:
    """Who gets which sample: the epoch's global order and this rank's share of it."""

    def __init__(
        self, n: int, *, batch_size: int, train: bool, seed: int, rank: int, world_size: int
    ) -> None:
        if batch_size <= 0:
            raise OptionError(f"batch_size must be positive; got {batch_size}")
        if not 0 <= rank < world_size:
            raise OptionError(f"rank must be in 0..{world_size - 1}; got {rank}")
        if train and batch_size % world_size:
            raise OptionError(
                f"the global batch_size {batch_size} must be divisible by the "
                f"world size {world_size}"
            )
        if train and n < batch_size:
            raise OptionError(f"batch_size {batch_size} exceeds the {n} training images")
        self.n, self.batch_size, self.train, self.seed = n, batch_size, train, seed
        self.rank, self.world_size = rank, world_size
        self.per_rank = batch_size // world_size if train else batch_size
        # Evaluation: rank r holds images [lo, hi), contiguous, no padding, no duplicates.
        self.lo, self.hi = n * rank // world_size, n * (rank + 1) // world_size

    def __len__(self) -> int:
        if self.train:
            return self.n // self.batch_size  # the last partial batch is dropped
        return -(-(self.hi - self.lo) // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """int64 (N,): the epoch's permutation without replacement (identity for eval)."""
        if not self.train:
            return torch.arange(self.n)
        g = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
        return torch.randperm(self.n, generator=g)

    def positions(self, b: int) -> range:
        """Positions in the epoch order of this rank's part of batch ``b``."""
        if self.train:
            lo = b * self.batch_size + self.rank * self.per_rank
            return range(lo, lo + self.per_rank)
        lo = self.lo + b * self.batch_size
        return range(lo, min(lo + self.batch_size, self.hi))

    def check_start(self, epoch: int, start: int) -> None:
        if epoch < 0 or not 0 <= start <= len(self):
            raise OptionError(
                f"batches(epoch={epoch}, start={start}): need epoch >= 0 and "
                f"0 <= start <= {len(self)}"
            )


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy without making the host wait: from pinned memory when the target is a GPU."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(
        memory_format=torch.channels_last if channels_last else torch.contiguous_format
    )

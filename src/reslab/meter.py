"""Counting a classifier's misses and loss, shared by training and evaluation.

Everything is a count (misses, images) or a sum (loss), never a rate, so that batches and
ranks add exactly; convert to percent once, at the end (:meth:`Meter.as_percent`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def topk_errors(logits: Tensor, targets: Tensor, ks: Sequence[int] = (1, 5)) -> Tensor:
    """Top-k misses per k: an int64 tensor ``(len(ks),)`` on the logits' device.

    A sample misses at k when its target is not among its k highest scores (ties broken by
    ``torch.topk``). ``logits`` is ``(N, K)``, ``targets`` ``(N,)``; a k of at least K
    counts no misses.
    """
    if logits.ndim != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(
            f"logits must be (N, K) and targets (N,); got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be at least 1; got {tuple(ks)}")
    kmax = min(max(ks), logits.shape[1])
    hits = logits.topk(kmax, dim=1).indices == targets[:, None]  # (N, kmax), <= 1 per row
    hit_rank = torch.where(hits.any(1), hits.int().argmax(1), kmax)  # (N,), kmax = no hit
    return torch.stack([(hit_rank >= k).sum() for k in ks])


class Meter:
    """Running loss sum, top-1 and top-5 misses and image count of a classifier.

    The totals are one tensor on ``device`` (float64: counts stay exact to 2**53), so an
    update never waits for the device and ``torch.distributed.all_reduce(meter.totals)``
    (or :meth:`merge`) combines ranks.
    """

    FIELDS = ("loss_sum", "top1_misses", "top5_misses", "images")

    def __init__(self, device: torch.device | str = "cpu") -> None:
        device = torch.device(device)
        dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
        self.totals = torch.zeros(len(self.FIELDS), dtype=dtype, device=device)

    def update(self, logits: Tensor, targets: Tensor, loss: Tensor | None = None) -> None:
        """Add a batch. ``loss`` is the batch's mean loss, as ``nn.CrossEntropyLoss``
        returns it; without it, the cross-entropy of ``logits`` is used."""
        with torch.no_grad():
            if loss is None:
                loss = F.cross_entropy(logits.float(), targets)
            n = targets.new_tensor(targets.numel(), dtype=self.totals.dtype)
            misses = topk_errors(logits, targets).to(self.totals.dtype)
            batch = torch.cat([(loss.detach().to(n.dtype) * n).reshape(1), misses, n.reshape(1)])
            self.totals += batch.to(self.totals.device)

    def merge(self, *others: Meter) -> Meter:
        """A meter holding the totals of this one and ``others`` (e.g. other ranks')."""
        merged = Meter(self.totals.device)
        merged.totals = self.totals + sum(o.totals.to(self.totals.device) for o in others)
        return merged

    def as_percent(self) -> dict[str, float | int]:
        """Mean loss, top-1 and top-5 error in percent, image count (one device sync);
        the keys of an ``eval`` record in ``metrics.jsonl``. NaN rates for no images."""
        loss_sum, top1, top5, n = self.totals.tolist()
        if n == 0:
            return {"loss": math.nan, "top1_err": math.nan, "top5_err": math.nan, "images": 0}
        return {
            "loss": loss_sum / n,
            "top1_err": 100.0 * top1 / n,
            "top5_err": 100.0 * top5 / n,
            "images": int(n),
        }

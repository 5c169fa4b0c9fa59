"""Classification metrics shared by training and evaluation.

Everything is a count (misses, images) or a sum (loss), never a rate, so that batches and
ranks add exactly; convert to percent once, at the end (:meth:`Meter.as_percent`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from reslab.errors import OptionError
from reslab.fileio import atomic_path


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


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """``(K, K)`` int64 counts: row = true class, column = predicted class."""
    if preds.shape != targets.shape:
        raise ValueError(f"preds {tuple(preds.shape)} and targets {tuple(targets.shape)} differ")
    for what, labels in (("predicted", preds), ("true", targets)):
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise OptionError(
                f"{what} labels must lie in [0, {num_classes}); got "
                f"{int(labels.min())}..{int(labels.max())}"
            )
    flat = targets.reshape(-1).long() * num_classes + preds.reshape(-1).long()
    return torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(matrix: Tensor) -> Tensor:
    """Float64 ``(K,)``: the fraction of each true class predicted right (NaN for a class
    with no images)."""
    matrix = matrix.double()
    return matrix.diagonal() / matrix.sum(1)  # 0 / 0 = NaN


def plot_confusion(
    matrix: Tensor,
    classes: Sequence[str],
    path: str | Path,
    *,
    title: str = "Confusion matrix",
) -> Path:
    """Draw ``matrix`` (rows = true class) to ``path`` (PNG unless its suffix says otherwise).

    Colours are row-normalised (the fraction of each true class), so that small classes
    show; up to 20 classes every cell also prints its count, up to 60 every class is
    labelled, beyond that every n-th, keeping the picture readable at 100+ classes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(classes)
    if tuple(matrix.shape) != (k, k):
        raise OptionError(f"confusion matrix is {tuple(matrix.shape)}; {k} classes need ({k}, {k})")
    counts = matrix.cpu().long()
    rates = counts.double() / counts.sum(1, keepdim=True).clamp_min(1)  # row fractions
    accuracy = 100.0 * counts.diagonal().sum().item() / max(counts.sum().item(), 1)

    side = min(max(6.0, 0.45 * k + 2.0), 16.0)  # inches; cells shrink past ~30 classes
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(rates.numpy(), cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.6, label="fraction of the true class")
    step = 1 if k <= 60 else math.ceil(k / 50)
    ticks = list(range(0, k, step))
    fontsize = 9 if k <= 20 else 7 if k <= 60 else 6
    ax.set_xticks(ticks, [classes[i] for i in ticks], rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, [classes[i] for i in ticks], fontsize=fontsize)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{title}: {accuracy:.2f} % correct, {int(counts.sum())} images")
    if k <= 20:
        for i, j in itertools.product(range(k), repeat=2):
            color = "white" if rates[i, j] > 0.5 else "black"
            ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=8, color=color)

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=120)
    return path

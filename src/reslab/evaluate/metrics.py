"""Classification metrics of evaluation: confusion matrices, per-class accuracy, their plot.

The meter of misses and loss (:class:`Meter`, :func:`topk_errors`) lives in
:mod:`reslab.meter`, which training uses too; it is re-exported here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from reslab.errors import OptionError
from reslab.fileio import atomic_path
from reslab.meter import Meter, topk_errors

__all__ = [
    "Meter",
    "ViewMean",
    "confusion_matrix",
    "per_class_accuracy",
    "plot_confusion",
    "topk_errors",
]


class ViewMean:
    """Per image, the log of its views' mean softmax (He et al. 2015, Sec. 3.4), kept in log
    space (an online logsumexp): a mean of probabilities underflows a confidently wrong
    image's true class to 0 in float32 and caps its loss at -log(tiny) = 87.3."""

    def __init__(self, n: int, k: int, device: torch.device) -> None:
        self.top = torch.full((n, k), -math.inf, device=device)  # running max of log-probs
        self.sum = torch.zeros(n, k, device=device)  # sum over views of exp(log_p - top)
        self.count = torch.zeros(n, device=device)

    def add(self, log_p: Tensor, owner: Tensor) -> None:
        """``log_p`` ``(B, K)``: log-softmax of B views; ``owner`` ``(B,)``: their images."""
        rows, pos = owner.unique(return_inverse=True)
        old = self.top[rows]
        top = torch.full_like(old, -math.inf).index_reduce_(0, pos, log_p, "amax")
        top = torch.maximum(old, top)
        fresh = torch.zeros_like(top).index_add_(0, pos, (log_p - top[pos]).exp())
        self.sum[rows] = self.sum[rows] * (old - top).exp() + fresh
        self.top[rows] = top
        self.count.index_add_(0, owner, torch.ones_like(owner, dtype=self.count.dtype))

    def log_mean(self) -> Tensor:
        return self.top + self.sum.log() - self.count.log()[:, None]


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

"""Metrics against hand-computed cases: counts add exactly over batches and ranks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from reslab.errors import OptionError
from reslab.evaluate.metrics import (
    Meter,
    ViewMean,
    confusion_matrix,
    per_class_accuracy,
    plot_confusion,
    topk_errors,
)

# Six classes; per row the target's rank among the scores is 0, 2, 5 and 1.
LOGITS = torch.tensor(
    [
        [9.0, 1.0, 2.0, 3.0, 4.0, 5.0],  # target 0: rank 0
        [1.0, 8.0, 7.0, 6.0, 0.0, 0.5],  # target 3: rank 2
        [6.0, 5.0, 4.0, 3.0, 2.0, 1.0],  # target 5: rank 5
        [0.0, 3.0, 0.0, 0.0, 2.0, 0.0],  # target 4: rank 1
    ]
)
TARGETS = torch.tensor([0, 3, 5, 4])


@pytest.mark.parametrize(
    ("ks", "misses"), [((1, 5), [3, 1]), ((1, 2, 3, 6), [3, 2, 1, 0]), ((10,), [0])]
)
def test_topk_errors_counts_misses(ks: tuple[int, ...], misses: list[int]) -> None:
    counts = topk_errors(LOGITS, TARGETS, ks)
    assert counts.dtype == torch.int64
    assert counts.tolist() == misses


def test_topk_errors_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"targets \(N,\)"):
        topk_errors(LOGITS, TARGETS[:3])


def test_meter_hand_computed() -> None:
    meter = Meter()
    meter.update(LOGITS[:2], TARGETS[:2])
    meter.update(LOGITS[2:], TARGETS[2:], loss=torch.tensor(0.5))
    first = F.cross_entropy(LOGITS[:2], TARGETS[:2]).item()
    result = meter.as_percent()
    assert result["images"] == 4
    assert result["loss"] == pytest.approx((2 * first + 2 * 0.5) / 4)
    assert (result["top1_err"], result["top5_err"]) == (75.0, 25.0)


def test_merged_meters_equal_one_meter_over_all_batches() -> None:
    logits, targets = torch.randn(30, 7), torch.randint(0, 7, (30,))
    whole = Meter()
    whole.update(logits, targets)
    ranks = [Meter(), Meter(), Meter()]
    for rank, chunk in zip(ranks, range(0, 30, 10), strict=True):
        rank.update(logits[chunk : chunk + 10], targets[chunk : chunk + 10])
    merged = ranks[0].merge(*ranks[1:])
    assert merged.totals[1:].tolist() == whole.totals[1:].tolist()  # counts: exact
    assert merged.as_percent()["loss"] == pytest.approx(whole.as_percent()["loss"], rel=1e-6)


def test_empty_meter_reports_nan_rates() -> None:
    result = Meter().as_percent()
    assert result["images"] == 0 and math.isnan(result["top1_err"])


def test_confusion_matrix_and_per_class_accuracy() -> None:
    preds, targets = torch.tensor([0, 1, 1, 2, 0]), torch.tensor([0, 1, 2, 2, 2])
    matrix = confusion_matrix(preds, targets, num_classes=4)
    assert matrix.dtype == torch.int64
    assert matrix.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    accuracy = per_class_accuracy(matrix)
    assert accuracy[:3].tolist() == pytest.approx([1.0, 1.0, 1 / 3])
    assert math.isnan(accuracy[3])  # no images of class 3


def test_confusion_matrix_rejects_labels_out_of_range() -> None:
    with pytest.raises(OptionError, match=r"true labels must lie in \[0, 3\); got 0\.\.3"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 3]), num_classes=3)


@pytest.mark.parametrize("k", [10, 120])
def test_plot_confusion_writes_a_png(tmp_path: Path, k: int) -> None:
    targets = torch.arange(k).repeat(5)
    preds = torch.where(torch.rand(targets.shape) < 0.8, targets, torch.randint(0, k, (5 * k,)))
    path = plot_confusion(
        confusion_matrix(preds, targets, k), [f"class {i}" for i in range(k)], tmp_path / "c.png"
    )
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= 600
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


def test_plot_confusion_needs_one_name_per_class(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=r"confusion matrix is \(3, 3\); 2 classes need"):
        plot_confusion(torch.zeros(3, 3, dtype=torch.int64), ["a", "b"], tmp_path / "c.png")


def test_view_mean_is_the_log_of_the_views_mean_softmax_in_any_batching() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=g) * 3
    owner = torch.tensor([0, 1, 2, 0, 1, 2, 3, 3, 0, 1, 2, 3])
    expected = torch.stack([logits[owner == i].softmax(1).mean(0) for i in range(4)]).log()
    for cuts in ([12], [5, 7], [1] * 12):
        mean = ViewMean(4, 5, torch.device("cpu"))
        for part, who in zip(logits.split(cuts), owner.split(cuts), strict=True):
            mean.add(part.log_softmax(1), who)
        torch.testing.assert_close(mean.log_mean(), expected)


def test_view_mean_keeps_the_loss_of_a_confident_mistake() -> None:
    # A mean of float32 probabilities underflowed here and capped this loss at 87.3: the
    # evaluator then disagreed with the trainer's test loss on a badly trained net.
    logits = torch.tensor([[0.0, 300.0], [0.0, 200.0]])
    mean = ViewMean(1, 2, torch.device("cpu"))
    mean.add(logits.log_softmax(1), torch.tensor([0, 0]))
    loss = F.nll_loss(mean.log_mean(), torch.tensor([0])).item()
    assert loss == pytest.approx(200.0 + math.log(2), rel=1e-6)

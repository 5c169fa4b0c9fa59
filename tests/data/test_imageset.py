"""Class-balanced validation splits and subsets: the indices make_loaders takes."""

from __future__ import annotations

import pytest
import torch

from reslab.data import ImageSet
from reslab.data.imageset import VAL_SEED, split_indices, subset_indices
from reslab.errors import DataError, OptionError


def numbered(per_class: list[int]) -> ImageSet:
    """Image i holds the value i in its first pixel (ids up to 2^24), labels per class."""
    labels = torch.cat([torch.full((n,), k) for k, n in enumerate(per_class)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]
    ids = torch.arange(len(labels))
    images = torch.zeros(len(labels), 2, 2, 3, dtype=torch.uint8)
    images[:, 0, 0] = torch.stack([ids % 256, ids // 256 % 256, ids // 65536], 1).byte()
    return ImageSet(images, labels, tuple(f"c{k}" for k in range(len(per_class))))


def train_val_split(data: ImageSet, size: int, seed: int = VAL_SEED) -> tuple[ImageSet, ImageSet]:
    """What make_loaders does with ``val_split``: the kept and the held-out images."""
    kept, held = split_indices(data.labels, size, data.classes, seed)
    return data.subset(kept), data.subset(held)


def balanced_subset(data: ImageSet, per_class: int, seed: int = 0) -> ImageSet:
    """What make_loaders does with a ``*_subset_per_class``."""
    return data.subset(subset_indices(data.labels, per_class, data.classes, seed))


def ids(s: ImageSet) -> list[int]:
    px = s.images[:, 0, 0].long()
    return (px[:, 0] + 256 * px[:, 1] + 65536 * px[:, 2]).tolist()


def test_split_is_disjoint_complete_balanced_and_fixed() -> None:
    data = numbered([120] * 10)
    train, val = train_val_split(data, 50)
    assert sorted(ids(train) + ids(val)) == list(range(1200))  # disjoint and complete
    assert val.counts() == [5] * 10 and train.counts() == [115] * 10
    assert ids(val) == sorted(ids(val))  # original order kept
    assert ids(train_val_split(data, 50)[1]) == ids(val)
    assert ids(train_val_split(data, 50, seed=1)[1]) != ids(val)


def test_an_uneven_split_spreads_the_remainder() -> None:
    _, val = train_val_split(numbered([10, 10, 10]), 5)
    assert val.counts() == [2, 2, 1]


@pytest.mark.parametrize("size", [0, 30, -1])
def test_split_size_must_leave_training_images(size: int) -> None:
    with pytest.raises(OptionError, match=f"val_split must be between 1 and 29.*got {size}"):
        train_val_split(numbered([10, 10, 10]), size)


def test_a_class_too_small_for_the_split_is_named() -> None:
    with pytest.raises(DataError, match="val_split of 9 needs 3 images of class 'c1', which has 2"):
        train_val_split(numbered([10, 2, 10]), 9)


def test_balanced_subset() -> None:
    data = numbered([7, 9, 8])
    sub = balanced_subset(data, 4, seed=3)
    assert sub.counts() == [4, 4, 4] and set(ids(sub)) <= set(range(24))
    assert ids(balanced_subset(data, 4, seed=3)) == ids(sub)
    assert balanced_subset(data, 7).counts() == [7, 7, 7]
    with pytest.raises(DataError, match="subset of 24 needs 8 images of class 'c0', which has 7"):
        balanced_subset(data, 8)


def test_coarse_labels_follow_their_images() -> None:
    data = numbered([6, 6])
    data = ImageSet(data.images, data.labels, data.classes, data.labels * 10, ("a", "b"))
    _, val = train_val_split(data, 4)
    assert torch.equal(val.coarse_labels, val.labels * 10) and val.coarse_classes == ("a", "b")

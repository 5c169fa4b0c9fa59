"""In-memory image sets (small images) and class-balanced splits and subsets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from reslab.errors import DataError, OptionError

# The 45k/5k split is the same for every run (any --seed), so runs compare on one
# validation set, as in the paper's Sec. 4.2.
VAL_SEED = 0


@dataclass(frozen=True)
class ImageSet:
    """Decoded images of one split, on the CPU.

    ``coarse_labels`` / ``coarse_classes``: CIFAR-100's 20 superclasses (else None).
    """

    images: torch.Tensor  # uint8 (N, H, W, C)
    labels: torch.Tensor  # int64 (N,)
    classes: tuple[str, ...]
    coarse_labels: torch.Tensor | None = None  # int64 (N,)
    coarse_classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, H, W, C); got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != (len(self.images),):
            raise ValueError(
                f"labels must be int64 ({len(self.images)},); got "
                f"{self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return tuple(self.images.shape[1:3])

    @property
    def channels(self) -> int:
        return self.images.shape[3]

    def subset(self, index: torch.Tensor) -> ImageSet:
        coarse = self.coarse_labels[index] if self.coarse_labels is not None else None
        return ImageSet(
            self.images[index], self.labels[index], self.classes, coarse, self.coarse_classes
        )

    def counts(self) -> list[int]:
        """Images per class, in class order."""
        return torch.bincount(self.labels, minlength=len(self.classes)).tolist()


def split_indices(
    labels: torch.Tensor, val_size: int, classes: Sequence[str], seed: int = VAL_SEED
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted indices (kept, held out) of a validation split of ``val_size`` images,
    class-balanced (the paper's 45k/5k split), for any labelled list; fixed for a seed."""
    if not 0 < val_size < len(labels):
        raise OptionError(
            f"val_split must be between 1 and {len(labels) - 1} (the training "
            f"images less one); got {val_size}"
        )
    held = balanced_indices(labels, val_size, classes, seed, what="val_split")
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[held] = False
    return keep.nonzero().squeeze(1), held


def subset_indices(
    labels: torch.Tensor, per_class: int, classes: Sequence[str], seed: int = 0
) -> torch.Tensor:
    """Sorted indices of ``per_class`` samples of every class, drawn with ``seed``, for any
    labelled list."""
    if per_class <= 0:
        raise OptionError(f"subset per class must be positive; got {per_class}")
    return balanced_indices(labels, per_class * len(classes), classes, seed, what="subset")


def balanced_indices(
    labels: torch.Tensor, total: int, classes: Sequence[str], seed: int, *, what: str
) -> torch.Tensor:
    """Sorted indices of ``total`` samples spread evenly over the classes.

    Each class gives ``total // K`` samples; the first ``total % K`` classes one more.
    """
    k = len(classes)
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in range(k):
        members = (labels == c).nonzero().squeeze(1)
        want = total // k + (c < total % k)
        if want > len(members):
            raise DataError(
                f"{what} of {total} needs {want} images of class {classes[c]!r}, "
                f"which has {len(members)}"
            )
        picked.append(members[torch.randperm(len(members), generator=g)[:want]])
    return torch.cat(picked).sort().values

"""Any weights file reslab reads, as the checkpoint record that eval, predict and export use.

A reslab checkpoint carries what scoring needs (classes, normalisation, input size). Foreign
weights (:data:`reslab.models.weights.LAYOUTS`) carry tensors only; the record gets the
model their layout implies, with tensors converted to reslab's names (and, for
akamaster/pytorch_resnet_cifar10, channel order), and the metadata their authors trained
with: the ImageNet per-channel mean/std (torchvision's `transforms.Normalize` of both
akamaster's ``trainer.py`` and torchvision's ImageNet recipe), CIFAR-10's class names for
akamaster's 10-way weights, the family's native input size. ``normalization`` overrides the
recorded normalisation of any file (see :meth:`reslab.data.Normalization.parse`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reslab.checkpoint import (
    FORMAT,
    VERSION,
    check_checkpoint,
    is_checkpoint,
    load_file,
    resolve_checkpoint,
)
from reslab.data import Normalization
from reslab.device import PRECISIONS
from reslab.errors import DataError, OptionError

# torchvision.datasets.CIFAR10's order, which akamaster's trainer.py trains on.
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def load_any(
    checkpoint: str | Path, *, normalization: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """(resolved path, checkpoint record) of a reslab checkpoint (file or RUN_DIR) or of
    foreign weights in a layout reslab reads; ``normalization`` replaces the record's."""
    path = resolve_checkpoint(checkpoint)
    obj = load_file(path)
    ckpt = check_checkpoint(obj, path) if is_checkpoint(obj) else foreign_checkpoint(obj, path)
    if normalization is not None:
        channels = Normalization.from_dict(ckpt["normalization"]).channels
        ckpt = {**ckpt, "normalization": Normalization.parse(normalization, channels).to_dict()}
    return path, ckpt


def foreign_checkpoint(obj: object, path: Path) -> dict[str, Any]:
    """A checkpoint record (no training state) for foreign weights; see the module doc."""
    from reslab.models import get_entry
    from reslab.models.weights import read_foreign

    foreign = read_foreign(obj, str(path))
    k, channels = foreign.options["num_classes"], foreign.options["in_chans"]
    if channels != 3:
        raise DataError(
            f"{path}: {foreign.layout} weights for {channels}-channel input: their "
            "normalisation is unknown; give it (--normalization MEAN,.../STD,...)"
        )
    classes = CIFAR10_CLASSES if foreign.layout == "akamaster" and k == 10 else None
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": {"name": foreign.name, "options": foreign.options},
        "classes": list(classes or (f"class_{i}" for i in range(k))),
        "normalization": Normalization.parse("imagenet", 3).to_dict(),
        "input_size": get_entry(foreign.name).input_size,
        "state_dict": foreign.state_dict,
        "config": {},
        "iteration": None,
        "weights": {"layout": foreign.layout, "file": str(path)},
    }


def eval_precision(ckpt: dict[str, Any], asked: str = "auto") -> str:
    """``auto``: the precision the checkpoint trained in (its config's ``run.precision``),
    so that ``reslab eval`` reproduces the trainer's test error; fp32 for foreign weights
    and for runs that recorded "auto" (before the choice was made concrete, which then
    meant fp32 on the CPUs those runs trained on)."""
    if asked != "auto":
        if asked not in PRECISIONS:
            choices = ", ".join(["auto", *PRECISIONS])
            raise OptionError(f"--precision must be one of {choices}; got {asked!r}")
        return asked
    trained = ((ckpt.get("config") or {}).get("run") or {}).get("precision")
    return trained if trained in PRECISIONS else "fp32"

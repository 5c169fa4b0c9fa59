"""BatchNorm recalibration: running statistics as a true average over training batches.

During training, BN keeps exponential moving averages of batch statistics, dominated by
the last few hundred iterations of still-moving weights. The paper's released ImageNet
models instead carry statistics computed after training over many training batches. Here
``torch.optim.swa_utils.update_bn`` resets every BN's running mean and variance and runs N
training batches with ``momentum=None`` (PyTorch's cumulative average): each batch's mean
and (unbiased) variance count equally.

The batches are training images in a random order, **without augmentation** by default
(the whole CIFAR image; resize + centre crop for large images): the statistics then
describe the inputs the model sees at test time. ``augment=True`` uses the training
augmentation instead (the inputs the weights were trained on).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.optim.swa_utils import update_bn

from reslab.checkpoint import save_atomic
from reslab.data import DeviceLoader, Source, StreamingLoader, open_source
from reslab.data.loaders import default_workers
from reslab.device import resolve_device
from reslab.errors import CheckpointError, DataError, OptionError
from reslab.evaluate.evaluator import (
    Loaded,
    check_classes,
    load_for_eval,
    run,
    test_batches,
)
from reslab.evaluate.protocols import PAPER_CROP, PAPER_RESIZE, input_hw, make_protocol

SUFFIX = "-bnrecal"


def default_out(checkpoint: Path) -> Path:
    """``<name>-bnrecal.pt`` beside the (resolved) checkpoint file."""
    return checkpoint.with_name(f"{checkpoint.stem}{SUFFIX}{checkpoint.suffix or '.pt'}")


def check_out(out: Path, checkpoint: Path, overwrite: bool) -> None:
    if out.resolve() == checkpoint.resolve():
        raise CheckpointError(
            f"--out {out} is the input checkpoint; recalibration never "
            "overwrites its input: choose another file"
        )
    if out.is_dir():
        raise CheckpointError(f"--out {out} is a directory; give a file name")
    if out.exists() and not overwrite:
        raise CheckpointError(f"{out} exists; pass --overwrite to replace it")


def train_loader(
    source: Source,
    loaded: Loaded,
    *,
    batch_size: int,
    augment: bool,
    seed: int,
    workers: int,
) -> DeviceLoader | StreamingLoader:
    """Training batches normalised with the checkpoint's own statistics."""
    options = dict(
        batch_size=batch_size,
        train=True,
        device=loaded.device,
        normalization=loaded.normalization,
        seed=seed,
        augment=augment,
    )
    h, w = input_hw(loaded.ckpt["input_size"])
    if source.small:
        data = source.load("train")
        if data.size != (h, w) or data.channels != loaded.in_chans:
            raise DataError(
                f"{source.path} holds {data.size[0]}x{data.size[1]} images of "
                f"{data.channels} channels; checkpoint {loaded.path} takes "
                f"{h}x{w} of {loaded.in_chans}"
            )
        return DeviceLoader(data, **options)
    if h != w or h <= 64:
        raise DataError(
            f"{source.path} holds large images; checkpoint {loaded.path} takes "
            f"{h}x{w} (CIFAR-sized) inputs"
        )
    return StreamingLoader(
        source,
        "train",
        crop=h,
        test_resize=round(PAPER_RESIZE * h / PAPER_CROP),
        color_pca=False,
        workers=workers,
        **options,
    )


def take(loader: DeviceLoader | StreamingLoader, n: int) -> Iterator[Tensor]:
    """The inputs of ``n`` training batches, into the next epochs when one is too short."""
    epoch = 0
    while n > 0:
        for x, _ in loader.batches(epoch):
            yield x
            n -= 1
            if n == 0:
                return
        epoch += 1


def recalibrate(
    checkpoint: str | Path,
    data: str | Path,
    *,
    batches: int,
    batch_size: int = 128,
    out: str | Path | None = None,
    overwrite: bool = False,
    augment: bool = False,
    seed: int = 0,
    device: str = "auto",
    eval_batch_size: int = 100,
    test_subset_per_class: int | None = None,
    workers: int | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """Recompute the BN statistics of ``checkpoint`` over ``batches`` training batches of
    ``data``, report the test error before and after, and write the new checkpoint to
    ``out`` (default :func:`default_out`) atomically. Returns the report, which the new
    checkpoint also carries under ``"bn_recalibration"``."""
    if batches < 1 or batch_size < 1:
        raise OptionError(
            f"--batches and --batch-size must be positive; got {batches} and {batch_size}"
        )
    start = time.perf_counter()
    loaded = load_for_eval(checkpoint, resolve_device(device))
    out = Path(out) if out is not None else default_out(loaded.path)
    check_out(out, loaded.path, overwrite)
    source = open_source(data, root=root)
    check_classes(source, loaded)
    workers = default_workers() if workers is None else workers
    loader = train_loader(
        source, loaded, batch_size=batch_size, augment=augment, seed=seed, workers=workers
    )

    def test_error() -> dict[str, Any]:
        proto = make_protocol("single", loaded.ckpt["input_size"])
        batches_, _ = test_batches(
            source,
            loaded,
            proto,
            split=source.test_split,
            batch_size=eval_batch_size,
            workers=workers,
            subset_per_class=test_subset_per_class,
        )
        return run(loaded, batches_).meter.as_percent()

    before = test_error()
    with torch.no_grad():
        update_bn(take(loader, batches), loaded.model)
    loaded.model.eval()
    after = test_error()
    report = {
        "source_checkpoint": str(loaded.path),
        "iteration": loaded.ckpt.get("iteration"),
        "data": str(source.path),
        "batches": batches,
        "batch_size": batch_size,
        "images": batches * batch_size,
        "augment": augment,
        "seed": seed,
        "method": "torch.optim.swa_utils.update_bn: momentum=None cumulative average",
        "test_split": source.test_split,
        "test_subset_per_class": test_subset_per_class,
        "before": before,
        "after": after,
    }
    ckpt = {k: v for k, v in loaded.ckpt.items() if k != "train_state"}  # not resumable
    ckpt["state_dict"] = {k: v.cpu() for k, v in loaded.model.state_dict().items()}
    ckpt["bn_recalibration"] = report
    save_atomic(ckpt, out)
    return {**report, "out": str(out), "wall_s": round(time.perf_counter() - start, 3)}

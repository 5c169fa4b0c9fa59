"""The three ways a training step is timed, and their sessions and loaders: reslab's own
step, the torchvision pipeline, and the bare step on a batch already on the device."""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from reslab.bench import BenchOptions


def num_classes(family: str) -> int:
    return 1000 if family == "imagenet" else 10


def synthetic_count(batch: int, size: int) -> int:
    # Enough for a few distinct batches without holding much memory at 224x224.
    return batch * (2 if size > 64 else 8)


def synthetic_images(size: int, n: int, classes: int, seed: int = 0):
    """``n`` random uint8 images of ``size`` x ``size`` with random labels."""
    from reslab.data import ImageSet

    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    return ImageSet(images, labels, tuple(f"class_{i}" for i in range(classes)))


def bench_session(
    name: str, images, batch: int, device: torch.device, keys: dict[str, Any] | None = None
):
    """The trainer's session for ``name`` on ``images`` (training and evaluation loaders
    over the same images); ``keys`` override config keys (dotted: ``model.compile``)."""
    from reslab.data import DeviceLoader, Loaders, Normalization
    from reslab.models import get_entry
    from reslab.train.config import resolve
    from reslab.train.distributed import Dist
    from reslab.train.session import session_from_loaders

    recipe = "imagenet-paper" if get_entry(name).family == "imagenet" else "cifar-paper"
    flags = {
        "model.name": name,
        "optim.batch_size": batch,
        "run.device": device.type,
        **(keys or {}),
    }
    config = resolve(recipe, flags=flags)
    norm = Normalization.per_pixel_mean(images)
    common = dict(
        batch_size=batch,
        device=device,
        normalization=norm,
        channels_last=config.model.channels_last,
    )
    h, w = images.size
    loaders = Loaders(
        train=DeviceLoader(images, train=True, augment=config.data.augment, **common),
        test=DeviceLoader(images, train=False, **common),
        val=None,
        normalization=norm,
        classes=images.classes,
        input_size=h if h == w else (h, w),
        in_chans=images.channels,
        train_images=len(images),
    )
    return session_from_loaders(config, Dist(0, 1, 0, device), loaders)


Step = Callable[[], object]


def reslab_train(s) -> Step:
    """The loop's body (reslab.train.loop._loop) without its logging: batch, step, meter."""
    from reslab.train.loop import train_step

    batches, lr = _endless(s.loaders.train), s.config.optim.lr
    s.model.train()

    def step() -> None:
        x, y = next(batches)
        loss, misses = train_step(s, x, y, lr)
        s.meter.add(loss, misses, len(y))

    return step


def reslab_infer(s) -> Step:
    batches, model = _endless(s.loaders.test), s.eval_model

    def step() -> None:
        x, _ = next(batches)
        model.eval()
        with torch.no_grad(), s.autocast():
            model(x)

    return step


def bare_train(s, size: int, classes: int) -> Step:
    from reslab.train.loop import train_step

    b, lr = s.loaders.train.batch_size, s.config.optim.lr
    x = torch.randn(b, 3, size, size, device=s.device)
    x = x.contiguous(
        memory_format=torch.channels_last
        if s.config.model.channels_last
        else torch.contiguous_format
    )
    y = torch.randint(0, classes, (b,), device=s.device)
    s.model.train()

    def step() -> None:
        loss, misses = train_step(s, x, y, lr)
        s.meter.add(loss, misses, b)

    return step


class PilImages(torch.utils.data.Dataset):
    """torchvision's CIFAR way: one PIL image per sample through per-sample transforms."""

    def __init__(self, images, transform) -> None:
        self.images, self.labels = images.images.numpy(), images.labels.numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def torchvision_loader(images, batch: int, workers: int, device: torch.device):
    from torchvision import transforms as T

    from reslab.data import Normalization

    norm = Normalization.per_channel(images)
    transform = T.Compose(
        [
            T.RandomCrop(images.size[0], padding=4),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(norm.mean.flatten().tolist(), norm.std.flatten().tolist()),
        ]
    )
    return torch.utils.data.DataLoader(
        PilImages(images, transform),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )


def torchvision_train(name: str, images, opts: BenchOptions, device: torch.device, optim) -> Step:
    from reslab.models import create_model

    model = create_model(name, num_classes=len(images.classes)).to(device).train()
    # The trainer's hyperparameters, PyTorch's default SGD implementation.
    opt = torch.optim.SGD(
        model.parameters(), lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay
    )
    criterion = nn.CrossEntropyLoss()
    batches = _endless_iterable(torchvision_loader(images, opts.batch, opts.workers, device))

    def step() -> None:
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = criterion(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()  # the reference scripts log the loss of every step

    return step


def _endless(loader) -> Iterator:
    return (b for epoch in itertools.count() for b in loader.batches(epoch))


def _endless_iterable(loader) -> Iterator:
    return (b for _ in itertools.count() for b in loader)


def rate(step: Step, opts: BenchOptions, device: torch.device, extra_warmup: int = 0) -> float:
    """Images per second of ``opts.steps`` calls of ``step`` after the warm-up calls."""
    for _ in range(opts.warmup + extra_warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(opts.steps):
        step()
    sync(device)
    return opts.steps * opts.batch / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()

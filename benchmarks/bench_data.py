"""Images per second of the device-resident CIFAR loader against the classic torchvision
``DataLoader`` pipeline, on the same training images, side by side.

    python benchmarks/bench_data.py [--data PATH] [--device cpu|cuda] [--batches N]

Both produce the paper's augmentation (4-pixel padding, random 32x32 crop, horizontal flip)
and normalised float batches on ``--device``. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
import torchvision

from reslab.data import DeviceLoader, ImageSet, Normalization, open_source
from reslab.data.loaders import default_workers

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(batches, n: int, warmup: int, batch_size: int, device: torch.device) -> float:
    """Images per second over ``n`` batches after ``warmup`` untimed ones."""
    it = iter(batches)
    for _ in range(warmup):
        next(it)
    _sync(device)
    start = time.perf_counter()
    for _ in range(n):
        x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    _sync(device)
    return n * batch_size / (time.perf_counter() - start)


def device_loader(train: ImageSet, norm: Normalization, args, device: torch.device) -> float:
    loader = DeviceLoader(
        train, batch_size=args.batch_size, train=True, device=device, normalization=norm, seed=0
    )
    epochs = (loader.batches(e) for e in range(10**6))
    flat = (b for epoch in epochs for b in epoch)
    return _rate(flat, args.batches, 5, args.batch_size, device)


def torchvision_loader(train: ImageSet, args, device: torch.device) -> float:
    # The same pipeline `reslab bench` times as the torchvision way.
    from reslab.bench.steps import torchvision_loader as make

    loader = make(train, args.batch_size, args.workers, device)
    flat = (b for _ in range(10**6) for b in loader)
    return _rate(flat, args.batches, 5 + 2 * args.workers, args.batch_size, device)


def hardware(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = f"{cpu}, {cores} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    text += f", torchvision {torchvision.__version__}"
    if device.type == "cuda":
        text += f", {torch.cuda.get_device_name(device)}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="dataset path or name")
    parser.add_argument("--root", default=None, help="data root (cache)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", type=int, default=200, help="timed batches per pipeline")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="DataLoader worker processes for the torchvision pipeline",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    source = open_source(args.data, root=Path(args.root) if args.root else None)
    train = source.load("train")
    print(
        f"data: {source.path} ({len(train):,} training images of "
        f"{'x'.join(map(str, train.size))}); batch {args.batch_size}; {args.batches} "
        f"timed batches; device {device}"
    )
    print(f"hardware: {hardware(device)}")
    norm = Normalization.per_channel(train)
    rates = {
        "reslab DeviceLoader (on device, batched)": device_loader(train, norm, args, device),
        f"torchvision DataLoader ({args.workers} workers, PIL)": torchvision_loader(
            train, args, device
        ),
    }
    width = max(map(len, rates))
    for name, rate in rates.items():
        print(f"{name:<{width}}  {rate:>12,.0f} images/s")
    a, b = rates.values()
    print(f"{'speed-up':<{width}}  {a / b:>12.1f} x")


if __name__ == "__main__":
    main()

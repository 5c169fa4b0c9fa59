"""``reslab bench``: reslab's training and inference speed against the torchvision way.

For each model, in one process and one run (see docs/performance.md):

- ``reslab``: the trainer's own session and step (:func:`reslab.train.loop.train_step`:
  channels_last, the precision and compilation a long run picks here by default
  (:mod:`reslab.train.runtime`), the trainer's SGD) fed by the device-resident
  :class:`~reslab.data.DeviceLoader` with the paper's augmentation; and inference
  (no grad, autocast) over the loader's evaluation batches;
- ``torchvision``: the same network trained the standard way: a ``DataLoader`` over PIL
  images with per-sample ``RandomCrop(padding=4)``, ``RandomHorizontalFlip``, ``ToTensor``,
  ``Normalize``; eager fp32, NCHW, ``loss.item()`` per step as the reference scripts log;
- ``bare``: the trainer's step on one synthetic batch already on the device: the ceiling
  that any input pipeline can reach;
- with ``matrix``, the ``reslab`` training rate under each of fp32/bf16 x eager/compiled.

Rates are images/s after untimed warm-up steps (CUDA synchronised before and after).
Achieved FLOP/s count 2 FLOP per multiply-add (:func:`reslab.models.count_macs`) and
3x the forward for a training step; the device's matmul peak is measured in the same run,
in fp32 and bf16; shares of the peak are of the reslab column's precision (fp32's where
bf16 is emulated).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from reslab.bench.memory import peak_memory
from reslab.bench.output import bench_markdown, bench_table, matrix_markdown, write_outputs
from reslab.bench.steps import (
    bare_train,
    bench_session,
    free,
    num_classes,
    rate,
    reslab_infer,
    reslab_train,
    sync,
    synthetic_count,
    synthetic_images,
    torchvision_train,
)
from reslab.bf16 import emulated
from reslab.errors import DataError, OptionError

__all__ = [
    "DEFAULT_MODELS",
    "BenchOptions",
    "bench_markdown",
    "bench_session",
    "bench_table",
    "matrix_markdown",
    "run_bench",
    "synthetic_images",
    "write_outputs",
]

DEFAULT_MODELS = ("resnet20", "resnet56", "resnet110", "resnet50")
TRAIN_FORWARDS = 3  # a training step ~ forward + backward (2x forward)


@dataclass(frozen=True)
class BenchOptions:
    models: tuple[str, ...] = DEFAULT_MODELS
    device: str = "auto"  # auto, cpu or cuda
    batch: int = 128
    steps: int = 20  # timed steps per measurement
    warmup: int = 5  # untimed steps before each measurement
    data: str | None = None  # real small images for the 32x32 models; synthetic otherwise
    root: str | None = None  # data root (cache) for ``data``
    workers: int | None = None  # the torchvision DataLoader's; default min(8, CPUs)
    threads: int | None = None  # torch intra-op threads; default torch's
    memory: bool = False  # also peak memory with and without activation checkpointing
    memory_batch: int | None = None  # batch of the memory measurement; default ``batch``
    matmul_size: int | None = None  # side of the peak matmul; default 2048 CPU, 8192 CUDA
    precision: str = "auto"  # the reslab column's run.precision (auto: the trainer's default)
    compile: str | bool = "auto"  # its model.compile; auto: what a long run picks
    matrix: bool = False  # also the reslab training rate under fp32/bf16 x eager/compiled


def run_bench(opts: BenchOptions, note: Callable[[str], None] = lambda _: None) -> dict:
    """Measure every model of ``opts``; the result is what ``bench.json`` holds."""
    from reslab.data.loaders import default_workers
    from reslab.models import get_entry
    from reslab.train.distributed import setup
    from reslab.train.rundir import environment

    _check(opts)
    for name in opts.models:
        get_entry(name)  # an unknown name fails before any timing
    if opts.threads is not None:
        torch.set_num_threads(opts.threads)
    device = setup(opts.device).device
    opts = replace(opts, workers=default_workers() if opts.workers is None else opts.workers)
    real = _real_images(opts) if opts.data else None
    precision, compiled = default_settings(opts, device)
    note("measuring the matmul peak in fp32 and bf16")
    peaks = {
        dtype: matmul_peak(device, opts.matmul_size, dtype=dtype)
        for dtype in (torch.float32, torch.bfloat16)
    }
    # Emulated bf16 runs fp32 kernels (reslab.bf16): fp32's peak bounds it, not that of
    # torch's own bf16 matmul, which is oneDNN's slow fallback on such a CPU.
    native_bf16 = precision == "bf16" and not emulated(device, "bf16")
    peak = peaks[torch.bfloat16 if native_bf16 else torch.float32]
    models = []
    for name in opts.models:
        note(f"{name}: reslab, torchvision and bare steps")
        models.append(bench_model(name, opts, device, peak["flops_per_s"], real))
        if opts.matrix:
            note(f"{name}: fp32/bf16 x eager/compiled")
            models[-1]["settings"] = settings_matrix(name, opts, device, real)
        if opts.memory:
            note(f"{name}: peak memory with and without activation checkpointing")
            models[-1]["memory"] = peak_memory(name, opts, device)
    env = environment(device, 1)
    env.pop("command", None)
    return {
        "kind": "reslab.bench",
        "environment": env,
        "settings": {
            **asdict(opts),
            "models": list(opts.models),
            "device": device.type,
            "precision": precision,
            "compile": compiled,
            "channels_last": True,
            "threads": torch.get_num_threads(),
            "bf16": "emulated" if emulated(device, "bf16") else "native",
        },
        "matmul_peak": peak,
        "matmul_peaks": list(peaks.values()),
        "models": models,
    }


def _check(opts: BenchOptions) -> None:
    for key in ("batch", "steps"):
        if getattr(opts, key) < 1:
            raise OptionError(f"--{key} must be at least 1; got {getattr(opts, key)}")
    if opts.warmup < 0:
        raise OptionError(f"--warmup must be >= 0; got {opts.warmup}")
    for key in ("workers", "threads", "memory_batch", "matmul_size"):
        value = getattr(opts, key)
        if value is not None and value < (0 if key == "workers" else 1):
            raise OptionError(f"--{key.replace('_', '-')} must be positive; got {value}")
    if not opts.models:
        raise OptionError("give at least one --model")


def _real_images(opts: BenchOptions):
    from reslab.data import open_source

    source = open_source(opts.data, root=Path(opts.root) if opts.root else None)
    if not source.small:
        raise DataError(
            f"{opts.data}: reslab bench needs small images (a CIFAR-style source) for --data; "
            "large images stream from files, which it does not time"
        )
    return source.load("train")


# --- the device's peak -----------------------------------------------------------------


def default_settings(opts: BenchOptions, device: torch.device) -> tuple[str, bool]:
    """The precision and compilation of the ``reslab`` column, as a run of the paper's
    length (64k iterations) resolves them on ``device``."""
    from reslab.train.config import resolve
    from reslab.train.runtime import resolve_runtime

    flags = {"run.precision": opts.precision, "model.compile": opts.compile}
    config = resolve_runtime(resolve("cifar-paper", flags=flags), device)
    return config.run.precision, config.model.compile


def _cpu_matmul_size(dtype: torch.dtype, largest: int, probe_s: float = 0.5) -> int:
    """``largest``, or a smaller power of two where one matmul of the next size up takes over
    ``probe_s``: emulated bf16 ran a 2048^2 matmul at 0.3 GFLOP/s on an AVX2 CPU
    (results/bench/cpu-avx2), minutes for the timed batches at full size."""
    n = 256
    while n < largest:
        a = torch.randn(2 * n, 2 * n, dtype=dtype)
        start = time.perf_counter()
        torch.mm(a, a)
        if time.perf_counter() - start > probe_s:
            break
        n *= 2
    return n


def matmul_peak(
    device: torch.device, size: int | None = None, repeats: int = 3, dtype: torch.dtype = None
) -> dict:
    """FLOP/s of a large square matmul in ``dtype`` (default: fp32 on the CPU, bf16 on
    CUDA); the best of ``repeats`` timed batches."""
    cuda = device.type == "cuda"
    dtype = dtype or (torch.bfloat16 if cuda else torch.float32)
    n = size or (8192 if cuda else _cpu_matmul_size(dtype, 2048))
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    calls = 20 if cuda else 2
    best = float("inf")
    for _ in range(repeats + 1):  # the first batch warms up
        sync(device)
        start = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return {
        "flops_per_s": calls * 2 * n**3 / best,
        "dtype": str(dtype).removeprefix("torch."),
        "size": n,
    }


# --- one model -------------------------------------------------------------------------


def model_images(name: str, opts: BenchOptions, real):
    """The real images when they have the model's input size, else synthetic ones; and
    whether they are real."""
    from reslab.models import get_entry

    entry = get_entry(name)
    size = entry.input_size
    if real is not None and real.size == (size, size):
        return real, True
    count = synthetic_count(opts.batch, size)
    return synthetic_images(size, count, num_classes(entry.family)), False


def bench_model(name: str, opts: BenchOptions, device: torch.device, peak: float, real) -> dict:
    """The three training rates, the inference rate and what they achieve."""
    from reslab.models import complexity

    images, use_real = model_images(name, opts, real)
    size = images.size[0]
    s = bench_session(
        name,
        images,
        opts.batch,
        device,
        {"run.precision": opts.precision, "model.compile": opts.compile},
    )
    macs = complexity(name, num_classes=len(images.classes)).macs
    # A compiled step compiles at its first call (and again for the backward's graph).
    train = rate(reslab_train(s), opts, device, extra_warmup=2 * s.config.model.compile)
    infer = rate(reslab_infer(s), opts, device)
    bare = rate(
        bare_train(s, size, len(images.classes)),
        opts,
        device,
        extra_warmup=2 * s.config.model.compile,
    )
    optim = s.config.optim
    del s
    free(device)
    baseline = rate(
        torchvision_train(name, images, opts, device, optim),
        opts,
        device,
        extra_warmup=2 * opts.workers,
    )
    free(device)
    row = {
        "model": name,
        "input_size": size,
        "data": f"real: {opts.data}" if use_real else "synthetic uint8",
        "images": len(images),
        "macs_per_image": macs,
        "reslab_train_images_per_s": train,
        "reslab_infer_images_per_s": infer,
        "torchvision_train_images_per_s": baseline,
        "bare_train_images_per_s": bare,
        "speedup_vs_torchvision": train / baseline,
        "pipeline_efficiency": train / bare,  # share of the bare step's rate kept with data
    }
    for key, per_s, forwards in (
        ("reslab_train", train, TRAIN_FORWARDS),
        ("reslab_infer", infer, 1),
        ("torchvision_train", baseline, TRAIN_FORWARDS),
        ("bare_train", bare, TRAIN_FORWARDS),
    ):
        flops = per_s * macs * 2 * forwards
        row[f"{key}_flops_per_s"] = flops
        row[f"{key}_peak_share"] = flops / peak
    row["memory"] = None
    row["settings"] = None  # the precision x compilation matrix, when asked
    return row


def settings_matrix(name: str, opts: BenchOptions, device: torch.device, real) -> dict:
    """The ``reslab`` training rate (images/s) under fp32/bf16 x eager/compiled; None
    where the compiler does not work here, and for compiled bf16 where bf16 is emulated
    (the trainer runs the emulation eagerly: reslab.bf16)."""
    from reslab.train.runtime import compiler_works

    images, _ = model_images(name, opts, real)
    rates: dict[str, float | None] = {}
    for precision, compiled in itertools.product(("fp32", "bf16"), (False, True)):
        key = f"{precision}-{'compiled' if compiled else 'eager'}"
        if compiled and (not compiler_works(device.type) or emulated(device, precision)):
            rates[key] = None
            continue
        s = bench_session(
            name,
            images,
            opts.batch,
            device,
            {"run.precision": precision, "model.compile": compiled},
        )
        rates[key] = rate(reslab_train(s), opts, device, extra_warmup=2 * compiled)
        del s
        free(device)
    return rates

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
in fp32 and bf16; shares of the peak are of the default precision's.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reslab.errors import DataError, OptionError

DEFAULT_MODELS = ("resnet20", "resnet56", "resnet110", "resnet50")
TRAIN_FORWARDS = 3  # a training step ~ forward + backward (2x forward)
CPU_MEMORY = "tensor bytes allocated at the peak, from the PyTorch profiler's memory records"
CUDA_MEMORY = "torch.cuda.max_memory_allocated during the steps minus allocated before"


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
    peaks = {dtype: matmul_peak(device, opts.matmul_size, dtype=dtype)
             for dtype in (torch.float32, torch.bfloat16)}  # fmt: skip
    peak = peaks[torch.bfloat16 if precision == "bf16" else torch.float32]
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


def matmul_peak(
    device: torch.device, size: int | None = None, repeats: int = 3, dtype: torch.dtype = None
) -> dict:
    """FLOP/s of a large square matmul in ``dtype`` (default: fp32 on the CPU, bf16 on
    CUDA); the best of ``repeats`` timed batches."""
    cuda = device.type == "cuda"
    n = size or (8192 if cuda else 2048)
    dtype = dtype or (torch.bfloat16 if cuda else torch.float32)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    calls = 20 if cuda else 2
    best = float("inf")
    for _ in range(repeats + 1):  # the first batch warms up
        _sync(device)
        start = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return {"flops_per_s": calls * 2 * n**3 / best, "dtype": str(dtype).removeprefix("torch."),
            "size": n}  # fmt: skip


# --- one model -------------------------------------------------------------------------


def bench_model(name: str, opts: BenchOptions, device: torch.device, peak: float, real) -> dict:
    """The three training rates, the inference rate and what they achieve."""
    from reslab.models import complexity, get_entry

    entry = get_entry(name)
    size = entry.input_size
    use_real = real is not None and real.size == (size, size)
    images = real if use_real else synthetic_images(size, _synthetic_count(opts.batch, size),
                                                    _num_classes(entry.family))  # fmt: skip
    s = bench_session(name, images, opts.batch, device,
                      {"run.precision": opts.precision, "model.compile": opts.compile})  # fmt: skip
    macs = complexity(name, num_classes=len(images.classes)).macs
    # A compiled step compiles at its first call (and again for the backward's graph).
    train = _rate(_reslab_train(s), opts, device, extra_warmup=2 * s.config.model.compile)
    infer = _rate(_reslab_infer(s), opts, device)
    bare = _rate(_bare_train(s, size, len(images.classes)), opts, device,
                 extra_warmup=2 * s.config.model.compile)  # fmt: skip
    optim = s.config.optim
    del s
    _free(device)
    baseline = _rate(_torchvision_train(name, images, opts, device, optim), opts, device,
                     extra_warmup=2 * opts.workers)  # fmt: skip
    _free(device)
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
    for key, rate, forwards in (("reslab_train", train, TRAIN_FORWARDS), ("reslab_infer", infer, 1),
                                ("torchvision_train", baseline, TRAIN_FORWARDS),
                                ("bare_train", bare, TRAIN_FORWARDS)):  # fmt: skip
        flops = rate * macs * 2 * forwards
        row[f"{key}_flops_per_s"] = flops
        row[f"{key}_peak_share"] = flops / peak
    row["memory"] = None
    row["settings"] = None  # the precision x compilation matrix, when asked
    return row


def settings_matrix(name: str, opts: BenchOptions, device: torch.device, real) -> dict:
    """The ``reslab`` training rate (images/s) under fp32/bf16 x eager/compiled; None
    where the compiler does not work here."""
    from reslab.models import get_entry
    from reslab.train.runtime import compiler_works

    entry = get_entry(name)
    size = entry.input_size
    use_real = real is not None and real.size == (size, size)
    images = real if use_real else synthetic_images(size, _synthetic_count(opts.batch, size),
                                                    _num_classes(entry.family))  # fmt: skip
    rates: dict[str, float | None] = {}
    for precision, compiled in itertools.product(("fp32", "bf16"), (False, True)):
        key = f"{precision}-{'compiled' if compiled else 'eager'}"
        if compiled and not compiler_works(device.type):
            rates[key] = None
            continue
        s = bench_session(name, images, opts.batch, device,
                          {"run.precision": precision, "model.compile": compiled})  # fmt: skip
        rates[key] = _rate(_reslab_train(s), opts, device, extra_warmup=2 * compiled)
        del s
        _free(device)
    return rates


def _num_classes(family: str) -> int:
    return 1000 if family == "imagenet" else 10


def _synthetic_count(batch: int, size: int) -> int:
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
    from reslab.train.loop import session_from_loaders

    recipe = "imagenet-paper" if get_entry(name).family == "imagenet" else "cifar-paper"
    flags = {"model.name": name, "optim.batch_size": batch, "run.device": device.type,
             **(keys or {})}  # fmt: skip
    config = resolve(recipe, flags=flags)
    norm = Normalization.per_pixel_mean(images)
    common = dict(batch_size=batch, device=device, normalization=norm,
                  channels_last=config.model.channels_last)  # fmt: skip
    h, w = images.size
    loaders = Loaders(
        train=DeviceLoader(images, train=True, augment=config.data.augment, **common),
        test=DeviceLoader(images, train=False, **common), val=None, normalization=norm,
        classes=images.classes, input_size=h if h == w else (h, w), in_chans=images.channels,
        train_images=len(images),
    )  # fmt: skip
    return session_from_loaders(config, Dist(0, 1, 0, device), loaders)


Step = Callable[[], object]


def _reslab_train(s) -> Step:
    """The loop's body (reslab.train.loop._loop) without its logging: batch, step, meter."""
    from reslab.train.loop import train_step

    batches, lr = _endless(s.loaders.train), s.config.optim.lr
    s.model.train()

    def step() -> None:
        x, y = next(batches)
        loss, misses = train_step(s, x, y, lr)
        s.meter.add(loss, misses, len(y))

    return step


def _reslab_infer(s) -> Step:
    batches, model = _endless(s.loaders.test), s.eval_model

    def step() -> None:
        x, _ = next(batches)
        model.eval()
        with torch.no_grad(), s.autocast():
            model(x)

    return step


def _bare_train(s, size: int, classes: int) -> Step:
    from reslab.train.loop import train_step

    b, lr = s.loaders.train.batch_size, s.config.optim.lr
    x = torch.randn(b, 3, size, size, device=s.device)
    x = x.contiguous(memory_format=torch.channels_last if s.config.model.channels_last else
                     torch.contiguous_format)  # fmt: skip
    y = torch.randint(0, classes, (b,), device=s.device)
    s.model.train()

    def step() -> None:
        loss, misses = train_step(s, x, y, lr)
        s.meter.add(loss, misses, b)

    return step


class _PilImages(torch.utils.data.Dataset):
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
    transform = T.Compose([
        T.RandomCrop(images.size[0], padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
        T.Normalize(norm.mean.flatten().tolist(), norm.std.flatten().tolist()),
    ])  # fmt: skip
    return torch.utils.data.DataLoader(
        _PilImages(images, transform), batch_size=batch, shuffle=True, drop_last=True,
        num_workers=workers, pin_memory=device.type == "cuda", persistent_workers=workers > 0,
    )  # fmt: skip


def _torchvision_train(name: str, images, opts: BenchOptions, device: torch.device, optim) -> Step:
    from reslab.models import create_model

    model = create_model(name, num_classes=len(images.classes)).to(device).train()
    # The trainer's hyperparameters, PyTorch's default SGD implementation.
    opt = torch.optim.SGD(model.parameters(), lr=optim.lr, momentum=optim.momentum,
                          weight_decay=optim.weight_decay)  # fmt: skip
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


def _rate(step: Step, opts: BenchOptions, device: torch.device, extra_warmup: int = 0) -> float:
    """Images per second of ``opts.steps`` calls of ``step`` after the warm-up calls."""
    for _ in range(opts.warmup + extra_warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(opts.steps):
        step()
    _sync(device)
    return opts.steps * opts.batch / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# --- peak memory -----------------------------------------------------------------------


def peak_memory(name: str, opts: BenchOptions, device: torch.device) -> dict:
    """Peak memory of the trainer's step, without and with activation checkpointing."""
    batch = opts.memory_batch or opts.batch
    off, on = (step_memory(name, device, batch, ckpt) for ckpt in (False, True))
    return {"batch": batch, "method": CUDA_MEMORY if device.type == "cuda" else CPU_MEMORY,
            "bytes": off, "bytes_checkpointed": on, "saved_share": 1 - on / off}  # fmt: skip


def step_memory(name: str, device: torch.device, batch: int, checkpoint: bool) -> int:
    """Bytes that two training steps of ``name`` add at their peak (activations, gradients,
    temporaries) over what the model, data and optimizer state hold after a first, untimed
    step (which also lets cuDNN pick its algorithms); synthetic images of the model's size.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: PyTorch keeps no CPU allocator
    statistics, ``tracemalloc`` does not see its allocations and ``ru_maxrss`` is a
    process-lifetime high-water mark (set earlier by setup), so the PyTorch profiler's
    allocation records (``profile_memory``) are summed in the order of the ops that made
    them, and their running total's maximum is taken: tensor bytes, at op granularity.
    """
    from reslab.models import get_entry

    entry = get_entry(name)
    images = synthetic_images(entry.input_size, batch, _num_classes(entry.family))
    keys = {"model.checkpoint_activations": checkpoint, "model.compile": False}
    s = bench_session(name, images, batch, device, keys)
    step = _reslab_train(s)
    step()  # allocates the momenta; the trainer's zero_grad frees the gradients each step
    _sync(device)
    _free(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        _steps(step, device)
        return torch.cuda.max_memory_allocated(device) - before
    from torch.profiler import ProfilerActivity, profile

    os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # no "gpuGetDeviceCount failed" line
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _steps(step, device)
    total = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        total += event.self_cpu_memory_usage
        peak = max(peak, total)
    return peak


def _steps(step: Step, device: torch.device) -> None:
    for _ in range(2):
        step()
    _sync(device)


# --- output ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[dict], str]
    justify: str = "right"


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def _fmt_flops(x: float) -> str:
    return f"{x / 1e9:,.1f}"


COLUMNS = (
    Column("model", lambda r: f"{r['model']} ({r['input_size']}px)", "left"),
    Column("reslab train img/s", lambda r: _fmt_rate(r["reslab_train_images_per_s"])),
    Column("torchvision train img/s", lambda r: _fmt_rate(r["torchvision_train_images_per_s"])),
    Column("speed-up", lambda r: f"{r['speedup_vs_torchvision']:.2f}x"),
    Column("bare step img/s", lambda r: _fmt_rate(r["bare_train_images_per_s"])),
    Column("reslab / bare", lambda r: f"{100 * r['pipeline_efficiency']:.0f} %"),
    Column("reslab infer img/s", lambda r: _fmt_rate(r["reslab_infer_images_per_s"])),
    Column("train GFLOP/s", lambda r: _fmt_flops(r["reslab_train_flops_per_s"])),
    Column("% of peak", lambda r: f"{100 * r['reslab_train_peak_share']:.1f}"),
    Column("infer % of peak", lambda r: f"{100 * r['reslab_infer_peak_share']:.1f}"),
    Column("peak memory (ckpt)", lambda r: _fmt_memory(r["memory"])),
)


def _fmt_memory(m: dict | None) -> str:
    if m is None:
        return "-"
    return f"{m['bytes'] / 2**20:,.0f} MiB ({m['bytes_checkpointed'] / 2**20:,.0f} MiB)"


def setup_line(result: dict) -> str:
    s, env = result["settings"], result["environment"]
    peaks = result.get("matmul_peaks", [result["matmul_peak"]])
    compiled = "compiled" if s.get("compile") else "eager"
    return (
        f"{env['hardware']}; torch {env['torch']}, {s['threads']} threads; device "
        f"{s['device']} ({s['precision']}, {compiled}, channels_last); batch {s['batch']}, "
        f"{s['steps']} timed steps after {s['warmup']}; torchvision DataLoader "
        f"{s['workers']} workers; matmul peak "
        + ", ".join(f"{p['flops_per_s'] / 1e9:,.1f} GFLOP/s ({p['dtype']}, {p['size']}^2)"
                    for p in peaks)
    )  # fmt: skip


MATRIX = ("fp32-eager", "fp32-compiled", "bf16-eager", "bf16-compiled")


def matrix_markdown(result: dict) -> list[str]:
    """The training rate per precision x compilation, and each against fp32 eager."""
    rows = [r for r in result["models"] if r.get("settings")]
    if not rows:
        return []

    def cell(r: dict, key: str) -> str:
        rate, base = r["settings"][key], r["settings"]["fp32-eager"]
        return "-" if rate is None else f"{rate:,.0f} ({rate / base:.2f}x)"

    return ["", "reslab training step, images/s (against fp32 eager):", "",
            "| model | " + " | ".join(MATRIX) + " |", "| --- " * (len(MATRIX) + 1) + "|",
            *(f"| {r['model']} | " + " | ".join(cell(r, k) for k in MATRIX) + " |"
              for r in rows)]  # fmt: skip


def bench_table(result: dict):
    from rich.table import Table

    table = Table(title="reslab bench", caption=setup_line(result))
    for c in COLUMNS:
        table.add_column(c.title, justify=c.justify)  # type: ignore[arg-type]
    for row in result["models"]:
        table.add_row(*(c.value(row) for c in COLUMNS))
    return table


def bench_markdown(result: dict) -> str:
    lines = ["# reslab bench", "", setup_line(result), "",
             "| " + " | ".join(c.title for c in COLUMNS) + " |",
             "| " + " | ".join("---" for _ in COLUMNS) + " |"]  # fmt: skip
    lines += ["| " + " | ".join(c.value(r) for c in COLUMNS) + " |" for r in result["models"]]
    lines += ["", "Data per model: " + "; ".join(f"{r['model']}: {r['data']}"
                                                  for r in result["models"]) + ".",
              "What each column measures: docs/performance.md.", ""]  # fmt: skip
    lines[-2:-2] = matrix_markdown(result)
    memory = [r["memory"] for r in result["models"] if r["memory"]]
    if memory:
        lines[-1:-1] = [f"Peak memory at batch {memory[0]['batch']}: {memory[0]['method']}; "
                        "in brackets with model.checkpoint_activations=true."]  # fmt: skip
    return "\n".join(lines)


def write_outputs(result: dict, out: Path) -> list[Path]:
    """``OUT/bench.json`` and ``OUT/bench.md``, each written atomically."""
    from reslab.checkpoint import atomic_path

    paths = [out / "bench.json", out / "bench.md"]
    texts = [json.dumps(result, indent=2) + "\n", bench_markdown(result)]
    for path, text in zip(paths, texts, strict=True):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return paths

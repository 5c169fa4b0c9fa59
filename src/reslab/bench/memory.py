"""Peak memory of the trainer's step, without and with activation checkpointing."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch

from reslab.bench.steps import (
    Step,
    bench_session,
    free,
    num_classes,
    reslab_train,
    sync,
    synthetic_images,
)

if TYPE_CHECKING:
    from reslab.bench import BenchOptions

CPU_MEMORY = "tensor bytes allocated at the peak, from the PyTorch profiler's memory records"
CUDA_MEMORY = "torch.cuda.max_memory_allocated during the steps minus allocated before"

# --- peak memory -----------------------------------------------------------------------


def peak_memory(name: str, opts: BenchOptions, device: torch.device) -> dict:
    """Peak memory of the trainer's step, without and with activation checkpointing."""
    batch = opts.memory_batch or opts.batch
    off, on = (step_memory(name, device, batch, ckpt) for ckpt in (False, True))
    return {
        "batch": batch,
        "method": CUDA_MEMORY if device.type == "cuda" else CPU_MEMORY,
        "bytes": off,
        "bytes_checkpointed": on,
        "saved_share": 1 - on / off,
    }


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
    images = synthetic_images(entry.input_size, batch, num_classes(entry.family))
    keys = {"model.checkpoint_activations": checkpoint, "model.compile": False}
    s = bench_session(name, images, batch, device, keys)
    step = reslab_train(s)
    step()  # allocates the momenta; the trainer's zero_grad frees the gradients each step
    sync(device)
    free(device)
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
    sync(device)

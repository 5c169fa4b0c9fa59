"""What ``run.precision: auto`` and ``model.compile: auto`` mean on this machine.

Both are resolved once, when a run's session is built, and the concrete values (``fp32``
or ``bf16``; ``true`` or ``false``) are what ``config.yaml`` records, so that a resumed run
keeps the arithmetic it started with on any machine.

- Precision: bf16 autocast on CUDA; on a CPU only when its instruction set has bf16 matrix
  units (AMX-BF16 or AVX-512-BF16) and a bf16 matmul checks out against fp32. Without
  them bf16 is slower than fp32: oneDNN's fallback ran ResNet-20/56 steps at 0.34-0.51x of
  fp32 on a 2-core AVX-512 CPU (results/bench/cpu-precision-compile) and ResNet-20 at 0.07x
  on a 2-core AVX2 CPU (results/bench/cpu-avx2). An explicit ``bf16`` there is emulated
  (:mod:`reslab.bf16`): the units' arithmetic in fp32 kernels, eagerly.
- Compilation: ``torch.compile`` when the run is long enough to repay its start-up
  (tens of seconds on a CPU) and the compiler works here; see :data:`COMPILE_MIN_ITERATIONS`.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from reslab.bf16 import cpu_bf16_units, emulated
from reslab.errors import ReslabWarning

if TYPE_CHECKING:
    from reslab.train.config import TrainConfig

# Shown when a run asks for bf16 (or resumes one that trained in it) on such a CPU: a study
# that pins bf16 for one arithmetic across machines trains there, but slower than in fp32.
EMULATED_BF16 = (
    "run.precision=bf16 on a CPU without bf16 matrix units (AMX-BF16 or AVX-512-BF16): "
    "reslab emulates bf16 here, rounding fp32 results as those units do (reslab.bf16), "
    "and trains eagerly, not compiled: ResNet-20 at 0.74x the speed of fp32, against "
    "0.07x for oneDNN's own bf16 fallback (results/bench/cpu-avx2/bf16-emulation.md). "
    "run.precision=auto picks fp32 on this CPU."
)

# Compiling costs tens of seconds on a CPU (~40 s for ResNet-20 on 2 cores). What it gains
# varies: 0.98-1.05x for fp32 on the 2-core CPU without bf16 units
# (results/bench/cpu-precision-compile), more where inductor can fuse (GPUs, bf16 units).
# From 2,000 iterations (minutes of training) on, the start-up is a small share of a run.
COMPILE_MIN_ITERATIONS = 2000


def resolve_runtime(config: TrainConfig, device: torch.device) -> TrainConfig:
    """``config`` with ``run.precision`` and ``model.compile`` made concrete for ``device``
    (the schedule must be finalized: its length decides compilation)."""
    precision = resolve_precision(config.run.precision, device)
    compile_ = config.model.compile
    if emulated(device, precision):  # the emulation runs eagerly only (reslab.bf16)
        compile_ = False
    elif compile_ == "auto":
        compile_ = config.schedule.iterations >= COMPILE_MIN_ITERATIONS and compiler_works(
            device.type
        )
    elif compile_ and not compiler_works(device.type):
        compile_ = False
    return replace(
        config,
        run=replace(config.run, precision=precision),
        model=replace(config.model, compile=compile_),
    )


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision != "auto":
        if emulated(device, precision):
            warnings.warn(EMULATED_BF16, ReslabWarning, stacklevel=2)
        return precision
    if device.type == "cuda":
        return "bf16"
    return "bf16" if cpu_bf16_units() else "fp32"


@functools.cache
def compiler_works(device_type: str) -> bool:
    """Whether ``torch.compile`` (inductor) builds and runs a tiny function here; warns
    once and returns False when it does not (no C++ compiler, no Triton, ...)."""
    try:
        fn = torch.compile(lambda x: torch.relu(x) * 2.0, dynamic=False)
        x = torch.ones(8, device=device_type)
        ok = bool((fn(x) == 2.0).all())
    except Exception as err:  # any compiler failure means: stay eager
        warnings.warn(
            f"torch.compile does not work on this machine ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); training eagerly",
            stacklevel=2,
        )
        return False
    return ok

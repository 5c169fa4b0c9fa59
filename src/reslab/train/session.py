"""Everything a training run holds, built from a finalized configuration."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from reslab.checkpoint import FORMAT, VERSION, save_atomic, unwrap
from reslab.errors import CheckpointError, OptionError
from reslab.models import create_model
from reslab.train.config import TrainConfig
from reslab.train.distributed import Dist, convert_sync_batchnorm
from reslab.train.runtime import precision_dtype
from reslab.train.state import IntervalMeter, TrainState, rng_state, set_rng_state


@dataclass
class Session:
    config: TrainConfig
    dist: Dist
    loaders: Any  # reslab.data.Loaders
    model: nn.Module  # possibly DDP- and compile-wrapped; unwrap() for the bare model
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    ema: AveragedModel | None
    criterion: nn.Module
    state: TrainState
    meter: IntervalMeter
    last_eval: tuple[int, dict[str, dict[str, float]]] | None = None  # (iteration, results)
    last_saved: int | None = None  # iteration of the latest checkpoint of this run

    @property
    def device(self) -> torch.device:
        return self.dist.device

    @property
    def iters_per_epoch(self) -> int:
        return len(self.loaders.train)

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are evaluated and kept as "best": the EMA when there is one."""
        # Never DDP-wrapped: ranks may hold different numbers of evaluation batches.
        return self.ema.module if self.ema is not None else unwrap(self.model)

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = precision_dtype(self.config.run.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)


def build_model(config: TrainConfig, num_classes: int, in_chans: int, dist: Dist) -> nn.Module:
    options = model_options(config, num_classes, in_chans)
    model = create_model(config.model.name, **options).to(dist.device)
    model.checkpoint_activations = config.model.checkpoint_activations
    if config.model.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.model.sync_bn and dist.enabled:
        model = convert_sync_batchnorm(model, dist.device)
    return model


def model_options(config: TrainConfig, num_classes: int, in_chans: int) -> dict[str, Any]:
    options = {"num_classes": num_classes, "in_chans": in_chans, **config.model.options}
    if options["num_classes"] != num_classes:
        raise OptionError(
            f"model.options.num_classes is {options['num_classes']}, but the data has "
            f"{num_classes} classes"
        )
    return options


def wrap_model(model: nn.Module, config: TrainConfig, dist: Dist) -> nn.Module:
    if dist.enabled:
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if config.model.compile:
        model = torch.compile(model)
    return model


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    o = config.optim
    params = [p for p in model.parameters() if p.requires_grad]
    if o.bn_weight_decay:
        groups: list[dict[str, Any]] = [{"params": params}]
    else:  # BN weights and all biases are 1-D: exempt them from weight decay
        groups = [
            {"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ]
    # On CUDA one fused kernel updates every tensor (PyTorch's default there is the
    # multi-tensor "foreach" path, a few kernels per step); on the CPU, PyTorch's default
    # per-tensor loop, whose numbers the CPU tests pin down.
    fused = True if params and params[0].device.type == "cuda" else None
    return torch.optim.SGD(
        groups,
        lr=o.lr,
        momentum=o.momentum,
        nesterov=o.nesterov,
        weight_decay=o.weight_decay,
        fused=fused,
    )


def build_ema(model: nn.Module, decay: float | None) -> AveragedModel | None:
    if decay is None:
        return None
    return EMA(model, decay)


class EMA(AveragedModel):
    """An exponential moving average of the weights and (``use_buffers``) BN statistics, so
    that the EMA model is evaluable as is; the same numbers and state dict as
    ``AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)``.

    PyTorch's ``update_parameters`` copies its step counter (a CPU tensor) to the GPU at
    every step, a blocking copy that makes the host wait for the GPU; here the counter is
    only read on the CPU, and the update is the same ``_foreach_lerp_`` per dtype.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.decay = decay

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        ema = [*self.module.parameters(), *self.module.buffers()]
        new = [t.detach() for t in (*model.parameters(), *model.buffers())]
        if int(self.n_averaged) == 0:  # on the CPU: no wait for the GPU
            for e, n in zip(ema, new, strict=True):
                e.copy_(n)
        else:
            groups: dict[torch.dtype, tuple[list, list]] = {}
            for e, n in zip(ema, new, strict=True):
                if e.is_floating_point():
                    groups.setdefault(e.dtype, ([], []))
                    groups[e.dtype][0].append(e)
                    groups[e.dtype][1].append(n)
                else:  # integer buffers (BN batch counts), as get_ema_multi_avg_fn does
                    e.copy_(e * self.decay + n * (1 - self.decay))
            for es, ns in groups.values():
                torch._foreach_lerp_(es, ns, 1 - self.decay)
        self.n_averaged += 1


# --- checkpoints -----------------------------------------------------------------------


def checkpoint(
    s: Session, *, with_train_state: bool, weights: nn.Module | None = None, interval=None
) -> dict:
    """``interval``: the current logging interval's loss sum, misses and samples over all
    ranks (default: this process's own meter, right for one process)."""
    bare = unwrap(weights if weights is not None else s.model)
    if isinstance(bare, AveragedModel):
        bare = bare.module
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model": {
            "name": s.config.model.name,
            "options": model_options(s.config, len(s.loaders.classes), s.loaders.in_chans),
        },
        "classes": list(s.loaders.classes),
        "normalization": s.loaders.normalization.to_dict(),
        "input_size": s.loaders.input_size,
        "state_dict": bare.state_dict(),
        "config": s.config.to_dict(),
        "iteration": s.state.iteration,
    }
    if with_train_state:
        ckpt["train_state"] = {
            "optimizer": s.optimizer.state_dict(),
            "scaler": s.scaler.state_dict() if s.scaler is not None else None,
            "ema": s.ema.state_dict() if s.ema is not None else None,
            "state": s.state.to_dict(),
            "meter": _meter_dict(s, interval),
            "rng": rng_state(s.device),
        }
    return ckpt


def _meter_dict(s: Session, interval) -> dict[str, Any]:
    m = s.meter
    loss_sum, misses, samples = interval or (m.loss_sum.item(), m.misses.item(), m.samples)
    return {
        "loss_sum": float(loss_sum),
        "misses": int(misses),
        "samples": int(samples),
        "iterations": m.iterations,
    }


def save(
    s: Session, path: Path, *, with_train_state: bool = True, weights=None, interval=None
) -> None:
    ckpt = checkpoint(s, with_train_state=with_train_state, weights=weights, interval=interval)
    # latest.pt keeps its predecessor as latest.prev.pt: one damaged file never costs a run.
    save_atomic(ckpt, path, keep_previous=with_train_state)


# Hyperparameters that optimizer.load_state_dict takes from the checkpoint; the run's
# configuration wins, so that a --resume may change them (docs/training.md).
_OPTIM_HYPER = ("momentum", "nesterov", "weight_decay", "dampening")


def restore(s: Session, ckpt: dict[str, Any], path: Path) -> None:
    """Continue from ``ckpt``, a training checkpoint (read from ``path``) of this run."""
    if "train_state" not in ckpt:
        raise CheckpointError(f"{path}: holds weights only, no training state to resume from")
    name = ckpt["model"]["name"]
    if name != s.config.model.name:
        raise CheckpointError(
            f"{path}: made with model {name!r}, but this run trains {s.config.model.name!r}"
        )
    options = model_options(s.config, len(s.loaders.classes), s.loaders.in_chans)
    saved_options = ckpt["model"].get("options", {})
    if saved_options != options:
        raise CheckpointError(
            f"{path}: made with model options {saved_options}, but this run's are {options} "
            "(a checkpoint of another run?)"
        )
    try:
        unwrap(s.model).load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: its weights do not fit this run's model: {str(err).splitlines()[0]}"
        ) from None
    ts = ckpt["train_state"]
    hyper = [{k: g[k] for k in _OPTIM_HYPER if k in g} for g in s.optimizer.param_groups]
    try:
        s.optimizer.load_state_dict(ts["optimizer"])
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: its optimizer state does not fit this run: {err}") from None
    for group, values in zip(s.optimizer.param_groups, hyper, strict=True):
        group.update(values)
    if s.scaler is not None and ts["scaler"] is not None:
        s.scaler.load_state_dict(ts["scaler"])
    if s.ema is not None and ts["ema"] is not None:
        s.ema.load_state_dict(ts["ema"])
    s.state = TrainState.from_dict(ts["state"])
    m = ts["meter"]
    s.meter = IntervalMeter.zeros(s.device)
    if s.dist.main:  # the partial interval over all ranks; the others start theirs at zero
        s.meter.loss_sum += m["loss_sum"]
        s.meter.misses += m["misses"]
        s.meter.samples = m["samples"]
    s.meter.iterations = m["iterations"]
    set_rng_state(ts["rng"], s.device)
    s.last_saved = s.state.iteration

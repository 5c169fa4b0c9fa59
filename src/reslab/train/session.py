"""Everything a training run holds: building it from a configuration (loaders, model,
optimizer, state), and saving and restoring it through checkpoints."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from reslab.checkpoint import FORMAT, VERSION, load_checkpoint, save_atomic, unwrap
from reslab.device import autocast, precision_dtype
from reslab.errors import CheckpointError, OptionError, ReslabWarning
from reslab.fileio import previous_path
from reslab.models import create_model
from reslab.rundir import read_config
from reslab.train.config import Length, TrainConfig, finalize, from_dict
from reslab.train.distributed import Dist, convert_sync_batchnorm
from reslab.train.runtime import resolve_runtime
from reslab.train.schedules import ScheduleEvents, warmup_applies
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
        return autocast(self.device, self.config.run.precision)


# --- building -------------------------------------------------------------------------


def build_session(config: TrainConfig, dist: Dist, length: Length | None) -> Session:
    """The session of a run: its loaders, model, optimizer and fresh state."""
    return session_from_loaders(config, dist, build_loaders(config, dist), length)


def build_loaders(config: TrainConfig, dist: Dist):
    from reslab.data import LoaderSpec, make_loaders, open_source

    d = config.data
    source = open_source(d.source, root=Path(d.root) if d.root else None, skip_bad=d.skip_bad)
    spec = LoaderSpec(
        batch_size=config.optim.batch_size,
        device=dist.device,
        seed=config.run.seed,
        normalization_kind=d.normalization,
        val_split=d.val_split,
        augment=d.augment,
        train_subset_per_class=d.train_subset_per_class,
        test_subset_per_class=d.test_subset_per_class,
        rank=dist.rank,
        world_size=dist.world_size,
        channels_last=config.model.channels_last,
        eval_batch_size=d.eval_batch_size,
        workers=d.workers,
        color_pca=d.color_pca,
        pad_value=d.pad_value,
    )
    return make_loaders(source, spec)


def session_from_loaders(
    config: TrainConfig, dist: Dist, loaders: Any, length: Length | None = None
) -> Session:
    """The model, optimizer and state that train on ``loaders`` (a ``reslab.data.Loaders``);
    ``reslab bench`` builds its sessions here too, so that it times the trainer's own step."""
    torch.manual_seed(config.run.seed)  # the same initial weights on every rank
    if dist.device.type == "cuda":
        # Input shapes are fixed: let cuDNN time its algorithms once and keep the fastest.
        torch.backends.cudnn.benchmark = True
    config = resolve_runtime(finalize(config, len(loaders.train), length), dist.device)
    model = build_model(config, len(loaders.classes), loaders.in_chans, dist)
    ema = build_ema(model, config.optim.ema_decay)
    fp16 = precision_dtype(config.run.precision) is torch.float16
    warming = warmup_applies(config.schedule, model.depth)
    state = TrainState(events=ScheduleEvents(warmup_end=None if warming else 0))
    return Session(
        config=config,
        dist=dist,
        loaders=loaders,
        model=wrap_model(model, config, dist),
        optimizer=build_optimizer(model, config),
        scaler=torch.amp.GradScaler(dist.device.type) if fp16 else None,
        ema=ema,
        criterion=nn.CrossEntropyLoss(label_smoothing=config.optim.label_smoothing),
        state=state,
        meter=IntervalMeter.zeros(dist.device),
    )


def cpu_loaders(config: TrainConfig):
    """The run's loaders in one process on the CPU (``--dry-run``, reading a finished run)."""
    return build_loaders(config, Dist(0, 1, 0, torch.device("cpu")))


def run_test_loader(run_dir: Path):
    """The test loader of the run in ``run_dir``, normalised as in its training, on the CPU."""
    return cpu_loaders(from_dict(read_config(run_dir))).test


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


def latest_checkpoint(out: Path, device: torch.device, *, warn: bool) -> tuple[dict, Path]:
    """``checkpoints/latest.pt``, or, when it is damaged or gone, the one before it
    (``latest.prev.pt``) with a warning: the run then repeats the iterations between them."""
    latest = out / "checkpoints" / "latest.pt"
    prev = previous_path(latest)
    try:
        return load_checkpoint(latest, map_location=device), latest
    except CheckpointError as err:
        if not prev.is_file():
            raise
        problem = err
    try:
        ckpt = load_checkpoint(prev, map_location=device)
    except CheckpointError as err:
        raise CheckpointError(f"{problem}; and the previous checkpoint: {err}") from None
    if warn:
        warnings.warn(
            f"{problem}; resuming from {prev} (iteration {ckpt.get('iteration')}) instead",
            ReslabWarning,
            stacklevel=3,
        )
    return ckpt, prev

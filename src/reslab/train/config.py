"""Training configuration: frozen dataclasses, resolved once and validated once.

Resolution order (later wins): the dataclass defaults, a named recipe
(:mod:`reslab.train.recipes`), an optional YAML file, ``--set key=value`` overrides, then
the CLI's explicit flags. :func:`resolve` checks every key and value and returns a
:class:`TrainConfig`; :func:`finalize` fixes the schedule length once the data size is
known. The result is written into the run directory as ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from reslab.errors import OptionError, ReslabError
from reslab.paper import CIFAR_ITERATIONS, CIFAR_MILESTONES
from reslab.train.typed import build


@dataclass(frozen=True)
class ModelConfig:
    name: str = "resnet20"
    options: dict[str, Any] = field(default_factory=dict)  # create_model(name, **options)
    channels_last: bool = True
    # torch.compile the training step's model; "auto": when the run is long enough to repay
    # the compilation and the compiler works here (reslab.train.runtime). config.yaml
    # records what was chosen.
    compile: Literal["auto"] | bool = "auto"
    sync_bn: bool = False  # batch statistics over all ranks under DDP
    # Recompute each unit's activations in the backward pass instead of keeping them: less
    # memory (ResNet-1202 at batch 128 on one GPU), ~1/3 more compute, the same numbers.
    # The paper's value is False.
    checkpoint_activations: bool = False


@dataclass(frozen=True)
class DataConfig:
    source: str = "cifar10"  # a path or a dataset name; see `reslab data inspect`
    root: str | None = None  # data root; default $RESLAB_DATA or ~/.cache/reslab
    # The paper subtracts the per-pixel mean (Sec. 4.2); "per_channel" also divides by std.
    normalization: Literal["per_pixel_mean", "per_channel"] = "per_pixel_mean"
    augment: bool = True  # 4-pixel pad + random crop + flip (Sec. 4.2)
    # What the padding holds. "mean" (the default): padded after normalising, i.e. the mean
    # colour, as the authors' Torch code (fb.resnet.torch cifar10.lua: ColorNormalize, then
    # zero-padding RandomCrop); the paper does not say. "black": padded before normalising,
    # as torchvision-style pipelines. docs/departures.md.
    pad_value: Literal["mean", "black"] = "mean"
    # AlexNet's PCA colour augmentation on large images (2015, Sec. 3.4: the paper's value,
    # True); False drops it. CIFAR-sized data never gets it (Sec. 4.2).
    color_pca: bool = True
    val_split: int = 0  # hold out this many training images (the paper's 45k/5k: 5000)
    train_subset_per_class: int | None = None  # class-balanced subsets, for quick runs
    test_subset_per_class: int | None = None
    skip_bad: bool = False  # skip unreadable images (counted and recorded) instead of failing
    workers: int | None = None  # streaming path only; default min(8, CPU count)
    eval_batch_size: int = 500


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False  # the paper uses plain momentum; fast recipes use Nesterov
    weight_decay: float = 1e-4
    bn_weight_decay: bool = True  # the paper decays every weight; False exempts BN and biases
    batch_size: int = 128  # global, over all ranks
    label_smoothing: float = 0.0  # the paper uses none
    ema_decay: float | None = None  # evaluate an exponential moving average of the weights


@dataclass(frozen=True)
class ScheduleConfig:
    kind: Literal["steps", "plateau", "cosine", "onecycle"] = "steps"
    iterations: int | None = CIFAR_ITERATIONS  # the length: iterations, or epochs (exactly one)
    epochs: float | None = None
    milestones: tuple[int, ...] = CIFAR_MILESTONES  # "steps": iterations where lr *= gamma
    gamma: float = 0.1
    # Warm-up: "linear" ramps from 0 over warmup_fraction of the run (so that it fits any
    # dataset size), or over warmup_iterations when that is set instead; "until_error" is
    # the paper's ResNet-110 rule (Sec. 4.2): lr = warmup_lr until the training error falls
    # below warmup_until_err %, for models at least warmup_min_depth deep; "constant" is the
    # 2016 paper's rule for all its CIFAR runs (Appendix): lr = warmup_lr for the first
    # warmup_iterations (400), whatever the depth and the schedule's length.
    warmup: Literal["none", "linear", "until_error", "constant"] = "none"
    warmup_fraction: float = 0.0
    warmup_iterations: int = 0
    warmup_lr: float = 0.01
    warmup_until_err: float = 80.0
    warmup_min_depth: int = 0
    # "plateau" (ImageNet, Sec. 3.4): lr *= gamma when the monitored error has not improved
    # by plateau_threshold points for plateau_patience evaluations.
    plateau_patience: int = 5
    plateau_threshold: float = 0.1
    plateau_min_lr: float = 1e-5


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # The paper trained in fp32. "auto": bf16 autocast on CUDA and on CPUs with bf16 matrix
    # units (AMX, AVX-512-BF16), fp32 elsewhere (reslab.train.runtime); config.yaml records
    # what was chosen. fp16 uses a gradient scaler. fp32 master weights in every case.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    log_every: int = 50  # iterations between train records (and NaN / warm-up checks)
    eval_every: int = 0  # iterations between evaluations; 0 = once per epoch
    checkpoint_every: int = 1000  # iterations between checkpoints (also at every eval)
    tensorboard: bool = False


@dataclass(frozen=True)
class TrainConfig:
    recipe: str = "cifar-paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


# --- resolution ------------------------------------------------------------------------


def resolve(
    recipe: str,
    *,
    file: str | Path | None = None,
    sets: typing.Sequence[str] = (),
    flags: dict[str, Any] | None = None,
) -> TrainConfig:
    """Merge recipe < YAML file < ``--set key=value`` < flags (dotted keys) and validate."""
    from reslab.train.recipes import recipe_overrides

    merged: dict[str, Any] = {}
    _merge(merged, recipe_overrides(recipe))
    if file is not None:
        _merge_layer(merged, _read_yaml(Path(file)))
    apply_sets(merged, sets)
    for key, value in (flags or {}).items():
        if value is not None:
            _merge_layer(merged, _nest(key, value))
    merged["recipe"] = recipe
    config = build(TrainConfig, merged)
    validate(config)
    return config


def apply_sets(into: dict[str, Any], sets: typing.Sequence[str]) -> None:
    """Merge ``--set key=value`` items (values are YAML) into a nested dict."""
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"--set expects key=value (e.g. optim.lr=0.05); got {item!r}")
        _merge_layer(into, _nest(key.strip(), yaml.safe_load(raw) if raw else ""))


# What a `--resume` may change (docs/training.md, "Changing a run on resume"): the length,
# the optimizer's and the schedule's values, where and how fast it runs, how often it logs.
# Everything else (the model, the data and its order, the seed, the batch size, what the
# optimizer, EMA and schedule state mean) is fixed for the life of a run.
RESUMABLE = frozenset(
    {
        "schedule.iterations",
        "schedule.epochs",
        "schedule.milestones",
        "schedule.gamma",
        "schedule.warmup_lr",
        "schedule.plateau_patience",
        "schedule.plateau_threshold",
        "schedule.plateau_min_lr",
        "optim.lr",
        "optim.momentum",
        "optim.nesterov",
        "optim.weight_decay",
        "optim.label_smoothing",
        "run.device",
        "run.log_every",
        "run.eval_every",
        "run.checkpoint_every",
        "run.tensorboard",
        "model.compile",
        "model.channels_last",
        "model.checkpoint_activations",
        "data.root",
        "data.workers",
        "data.eval_batch_size",
    }
)


def changes(old: TrainConfig, new: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (old, new)}`` for every leaf value that differs."""
    a, b = _flatten(old.to_dict()), _flatten(new.to_dict())
    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):  # an empty one (no model options) has no leaves
            out.update(_flatten(value, f"{full}."))
        else:
            out[full] = value
    return out


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """A configuration read back from a run's ``config.yaml``."""
    config = build(TrainConfig, data)
    validate(config)
    return config


Length = tuple[Literal["iterations", "epochs"], float]


def finalize(
    config: TrainConfig, iters_per_epoch: int, length: Length | None = None
) -> TrainConfig:
    """Fix the schedule length in iterations once the data size is known.

    ``length`` (from ``--iterations N`` or ``--epochs N``) replaces the recipe's length;
    milestones and a warm-up given in iterations then scale in proportion, keeping the
    schedule's shape; a warm-up given as a fraction is that fraction of the final length
    (a "constant" warm-up is a fixed number of iterations in the 2016 paper: it stays).
    The resolved schedule is checked: warm-up shorter than the run, milestones inside it.
    """
    s = config.schedule
    base = s.iterations if s.iterations is not None else round(s.epochs * iters_per_epoch)
    total = base
    if length is not None:
        unit, n = length
        total = round(n) if unit == "iterations" else round(n * iters_per_epoch)
    if total < 1:
        raise OptionError(
            f"the schedule has {total} iterations ({_length_text(s, length)} at "
            f"{iters_per_epoch} iterations per epoch); it needs at least 1"
        )
    factor = total / max(base, 1)
    # Milestones are checked against the length they were given for. One at the very end is
    # harmless: scaled to a tiny run, rounding puts the last one there, and a resumed run
    # finalizes its already scaled schedule again.
    outside = [m for m in s.milestones if m > base]
    if s.kind == "steps" and outside:
        raise OptionError(
            f"schedule.milestones {list(s.milestones)} lie after the end of the "
            f"schedule ({base} iterations): {outside} would never apply"
        )
    if s.warmup_fraction > 0:
        # At least one warm-up step, and at least one step at the full rate after it.
        warmup = min(max(1, round(s.warmup_fraction * total)), total - 1)
    elif s.warmup == "constant":
        warmup = s.warmup_iterations
    else:
        warmup = round(s.warmup_iterations * factor)
    s = replace(
        s,
        iterations=total,
        epochs=None,
        milestones=tuple(max(1, round(m * factor)) for m in s.milestones),
        warmup_iterations=warmup,
        warmup_fraction=0.0,  # resolved, like the epochs: config.yaml holds iterations only
    )
    check_schedule(s)
    return replace(config, schedule=s)


def check_schedule(s: ScheduleConfig) -> None:
    """A finalized schedule's warm-up must end inside the run."""
    total = s.iterations
    if s.warmup == "linear" and s.warmup_iterations >= total and total > 1:
        raise OptionError(
            f"the linear warm-up ({s.warmup_iterations} iterations) is not shorter than the "
            f"run ({total} iterations): lower schedule.warmup_iterations, or give the warm-up "
            f"as a fraction (schedule.warmup_fraction=0.1)"
        )


def _length_text(s: ScheduleConfig, length: Length | None) -> str:
    if length is not None:
        return f"--{length[0]} {length[1]:g}"
    return f"{s.iterations} iterations" if s.iterations is not None else f"{s.epochs:g} epochs"


def validate(c: TrainConfig) -> None:
    from reslab.models import get_entry

    get_entry(c.model.name)  # unknown model: error listing the closest names
    s, o, r = c.schedule, c.optim, c.run
    if (s.iterations is None) == (s.epochs is None):
        raise OptionError("set exactly one of schedule.iterations and schedule.epochs")
    _positive("optim.batch_size", o.batch_size)
    _positive("optim.lr", o.lr)
    _positive("data.eval_batch_size", c.data.eval_batch_size)
    for key in ("log_every", "checkpoint_every"):
        _positive(f"run.{key}", getattr(r, key))
    if not 0 <= o.label_smoothing < 1:
        raise OptionError(f"optim.label_smoothing must be in [0, 1); got {o.label_smoothing}")
    if o.ema_decay is not None and not 0 < o.ema_decay < 1:
        raise OptionError(f"optim.ema_decay must be in (0, 1) or null; got {o.ema_decay}")
    if list(s.milestones) != sorted(s.milestones):
        raise OptionError(f"schedule.milestones must be increasing; got {list(s.milestones)}")
    if s.warmup == "linear" and (s.warmup_iterations < 1) == (s.warmup_fraction <= 0):
        raise OptionError(
            "schedule.warmup 'linear' needs exactly one of schedule.warmup_fraction (of the "
            f"run, in (0, 1)) and schedule.warmup_iterations (>= 1); got warmup_fraction="
            f"{s.warmup_fraction}, warmup_iterations={s.warmup_iterations}"
        )
    if s.warmup == "constant" and s.warmup_iterations < 1:
        raise OptionError("schedule.warmup 'constant' needs schedule.warmup_iterations >= 1")
    if not 0 <= s.warmup_fraction < 1:
        raise OptionError(f"schedule.warmup_fraction must be in [0, 1); got {s.warmup_fraction}")
    if c.data.val_split < 0:
        raise OptionError(f"data.val_split must be >= 0; got {c.data.val_split}")


def _positive(key: str, value: float) -> None:
    if value is None or value <= 0:
        raise OptionError(f"{key} must be positive; got {value}")


# A length or warm-up given in one unit replaces the recipe's value in the other unit
# (the value that means "not given in this unit").
_ALTERNATIVES = (("iterations", "epochs"), ("warmup_iterations", "warmup_fraction"))
_UNSET: dict[str, Any] = {
    "iterations": None,
    "epochs": None,
    "warmup_iterations": 0,
    "warmup_fraction": 0.0,
}


def _merge_layer(into: dict[str, Any], layer: dict[str, Any]) -> None:
    """Merge a user layer (YAML, --set, flag) over the recipe: setting schedule.iterations
    clears the recipe's schedule.epochs (and warmup_iterations its warmup_fraction), unless
    the same layer sets both."""
    new = layer.get("schedule")
    old = into.get("schedule")
    if isinstance(new, dict) and isinstance(old, dict):
        for a, b in _ALTERNATIVES:
            for given, other in ((a, b), (b, a)):
                if new.get(given) not in (None, 0) and other not in new and other in old:
                    old[other] = _UNSET[other]
    _merge(into, layer)


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ReslabError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ReslabError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OptionError(f"{path}: a config file must hold a mapping of sections")
    data.pop("recipe", None)  # a run's config.yaml may be passed back as --config
    return data


def _plain(obj: Any) -> Any:
    """Tuples to lists, recursively, for YAML and JSON."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj

"""Weights for registered models: reslab checkpoints and the bare state dicts in wide use.

A reslab checkpoint names its model and options, so it rebuilds exactly what was trained. A
bare state dict names only tensors; reslab recognises two layouts from their keys (and
refuses any other, listing these):

- torchvision's ImageNet ResNets: ImageNet stem, post-activation units, option-B shortcuts
  and, in bottlenecks, the downsampling stride on the 3x3 ("v1.5"); classifier ``fc``.
- akamaster/pytorch_resnet_cifar10's CIFAR ResNets (the most used CIFAR ResNet weights):
  ``{"state_dict": {"module." + name: tensor}, "best_prec1": ...}``, classifier ``linear``,
  option A shortcuts. Its zero padding puts the new channels on *both* sides of the old ones
  (``planes // 4`` before and after) where reslab appends them after, so the same tensors
  under the same names compute another function (issue 17). The
  conversion (:func:`from_akamaster`) relabels the residual stream's channels in stages 2
  and 3 so that the converted network computes exactly the original function.

The stride is the trap. The 2015 paper strides the first 1x1 of a downsampling bottleneck
("v1", ``stride_on_1x1=True``, reslab's default); torchvision strides the 3x3. Both have the
same tensors of the same shapes, so torchvision's weights load into a v1 model without a
complaint from PyTorch, and the model then computes a different, worse function. Loading
torchvision weights therefore builds the v1.5 model unless told otherwise, and loading them
into a v1 model (or saving a v1 model in torchvision layout) is refused unless
``allow_stride_mismatch=True`` says it is meant, e.g. to start fine-tuning a v1 model from
them. Basic-block models (18 and 34 layers) have no 1x1 convolution and are the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from reslab.checkpoint import (
    check_checkpoint,
    is_checkpoint,
    load_file,
    resolve_checkpoint,
    save_atomic,
    unwrap,
)
from reslab.errors import CheckpointError, OptionError
from reslab.models.blocks import BasicBlock, Bottleneck
from reslab.models.registry import WeightsSource, get_entry, model_from_checkpoint
from reslab.models.resnet import IMAGENET_WIDTHS, ResNet

# Options that only shape the initialisation, which loaded weights overwrite.
INIT_ONLY = ("zero_init_residual",)
# torchvision.models' ResNets by (unit, units per stage): the names both libraries use.
TORCHVISION_RESNETS = {
    (BasicBlock, (2, 2, 2, 2)): "resnet18",
    (BasicBlock, (3, 4, 6, 3)): "resnet34",
    (Bottleneck, (3, 4, 6, 3)): "resnet50",
    (Bottleneck, (3, 4, 23, 3)): "resnet101",
    (Bottleneck, (3, 8, 36, 3)): "resnet152",
}
# Wrappers that prefix every parameter name: DistributedDataParallel, torch.compile.
_PREFIXES = ("module.", "_orig_mod.")
Layout = Literal["torchvision", "akamaster"]
# What reslab reads, for the message that refuses anything else.
LAYOUTS = (
    "a reslab checkpoint",
    "a torchvision ImageNet ResNet state dict (keys conv1, bn1, layer1.0.conv1, ..., fc)",
    "akamaster/pytorch_resnet_cifar10 CIFAR ResNet weights (keys [module.]conv1, bn1, "
    "layer1.0.conv1, ..., linear)",
)
AKAMASTER = "akamaster/pytorch_resnet_cifar10"


def build_with_weights(name: str, weights: WeightsSource, options: dict[str, Any]) -> ResNet:
    """The registered model ``name`` holding ``weights`` (what ``create_model(weights=...)``
    does): a reslab checkpoint rebuilds its own options, a bare state dict is read in the
    layout its keys show (:data:`LAYOUTS`); the ``options`` given must agree with the weights."""
    obj, where = _read(weights)
    if is_checkpoint(obj):
        return _from_checkpoint(name, check_checkpoint(obj, where), options, where)
    state_dict = bare_state_dict(obj, where)
    if detect_layout(state_dict) == "akamaster":
        return _from_akamaster(name, state_dict, options, where)
    if detect_layout(state_dict) is None:
        raise unknown_layout(where, state_dict)
    return _from_torchvision(name, state_dict, options, where)


@dataclass(frozen=True)
class ForeignWeights:
    """A bare state dict read in its layout: the registered model that holds it and the
    state dict in reslab's names (converted where the layout needs it)."""

    layout: Layout
    name: str
    options: dict[str, Any]
    state_dict: dict[str, Tensor]


def read_foreign(obj: object, where: str) -> ForeignWeights:
    """The model a bare state dict (or a training script's dict around one) is for, with the
    tensors in reslab's names; :func:`unknown_layout` for a layout reslab does not read."""
    state_dict = bare_state_dict(obj, where)
    layout = detect_layout(state_dict)
    if layout == "akamaster":
        options, converted = from_akamaster(state_dict, where)
        name = f"resnet{6 * _akamaster_units(state_dict)[0] + 2}"
        _check_registered(name, where, state_dict)
        return ForeignWeights(layout, name, options, converted)
    arch = torchvision_arch(state_dict) if layout == "torchvision" else None
    if arch not in TORCHVISION_RESNETS:
        raise unknown_layout(where, state_dict)
    fc, conv1 = state_dict["fc.weight"], state_dict["conv1.weight"]
    options = {"stride_on_1x1": False, "num_classes": fc.shape[0], "in_chans": conv1.shape[1]}
    return ForeignWeights(layout, TORCHVISION_RESNETS[arch], options, dict(state_dict))


def detect_layout(state_dict: Mapping[str, Tensor]) -> Layout | None:
    """The layout of a bare state dict (prefixes stripped), from its keys; None if unknown."""
    if "linear.weight" in state_dict and "fc.weight" not in state_dict:
        return "akamaster" if _akamaster_units(state_dict) else None
    return "torchvision" if torchvision_arch(state_dict) is not None else None


def unknown_layout(where: str, state_dict: Mapping[str, Tensor]) -> CheckpointError:
    keys = ", ".join(list(state_dict)[:4]) + (", ..." if len(state_dict) > 4 else "")
    return CheckpointError(
        f"{where}: not a reslab checkpoint, and its tensors ({keys}) are in no layout reslab "
        f"reads; it reads {'; '.join(LAYOUTS)}"
    )


def from_akamaster(
    state_dict: Mapping[str, Tensor], where: str = "state dict"
) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """(options, reslab state dict) of akamaster/pytorch_resnet_cifar10 weights.

    Names: ``linear`` -> ``fc``, ``shortcut`` -> ``downsample``. Option A pads ``planes//4``
    zero channels before and after the subsampled input; reslab keeps the input in the
    first channels and appends the zeros. Reslab channel ``j`` of the residual stream is
    then akamaster's channel ``perm[j]``, and the convs and BNs are relabelled to match:
    the input channels of every unit's conv1 (it reads the stream), the output channels of
    every unit's conv2 and bn2 (they write it), and the input features of ``fc``.
    """
    units = _akamaster_units(state_dict)
    option_b = "layer2.0.shortcut.0.weight" in state_dict
    sd = {_akamaster_name(k): v for k, v in state_dict.items()}
    perm: Tensor | None = None  # None: the identity (stage 1, or option B throughout)
    for s, n in enumerate(units, start=1):
        for u in range(n):
            p = f"layer{s}.{u}."
            read = perm
            c_in, c_out = sd[p + "conv1.weight"].shape[1], sd[p + "conv2.weight"].shape[0]
            if c_in != c_out and not option_b:
                perm = _grown(perm, c_in, c_out, where)
            _permute(sd, p + "conv1.weight", read, dim=1)
            _permute(sd, p + "conv2.weight", perm, dim=0)
            for key in ("weight", "bias", "running_mean", "running_var"):
                _permute(sd, p + f"bn2.{key}", perm, dim=0)
    _permute(sd, "fc.weight", perm, dim=1)
    fc, conv1 = sd["fc.weight"], sd["conv1.weight"]
    shortcut = "B" if option_b else "A"
    options = {"shortcut": shortcut, "num_classes": fc.shape[0], "in_chans": conv1.shape[1]}
    return options, sd


def _grown(perm: Tensor | None, c_in: int, c_out: int, where: str) -> Tensor:
    """The stream's relabelling after an option-A unit that widens it from c_in to c_out."""
    before = c_out // 4  # akamaster: F.pad(..., (0, 0, 0, 0, planes // 4, planes // 4))
    if 2 * before + c_in != c_out:
        raise CheckpointError(
            f"{where}: an option-A unit widens {c_in} to {c_out} channels, which "
            f"{AKAMASTER}'s padding (planes//4 on each side) cannot do"
        )
    old = torch.arange(c_in) if perm is None else perm
    pads = [torch.arange(before), torch.arange(before + c_in, c_out)]
    return torch.cat([before + old, *pads])


def _permute(sd: dict[str, Tensor], key: str, perm: Tensor | None, dim: int) -> None:
    if perm is not None and key in sd:
        sd[key] = sd[key].index_select(dim, perm)


def _akamaster_name(key: str) -> str:
    if key.startswith("linear."):
        return "fc." + key.removeprefix("linear.")
    return key.replace(".shortcut.", ".downsample.")


def _akamaster_units(state_dict: Mapping[str, Tensor]) -> tuple[int, ...] | None:
    """Units per stage of akamaster-layout weights (three equal stages of basic units)."""
    if "conv1.weight" not in state_dict or "layer1.0.conv2.weight" not in state_dict:
        return None
    units = tuple(
        next(j for j in count() if f"layer{s}.{j}.conv1.weight" not in state_dict)
        for s in (1, 2, 3, 4)
    )
    if units[3] or len(set(units[:3])) != 1 or "layer1.0.conv3.weight" in state_dict:
        return None
    return units[:3]


def _check_registered(name: str, where: str, state_dict: Mapping[str, Tensor]) -> None:
    from reslab.models.registry import list_models

    if name not in list_models("resnet*"):
        raise CheckpointError(
            f"{where}: {AKAMASTER} weights of {_akamaster_units(state_dict)} units per stage "
            f"make a {name}, which reslab does not register"
        )


def load_torchvision(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    *,
    allow_stride_mismatch: bool = False,
    where: str = "state dict",
    label: str = "this model",
) -> nn.Module:
    """Load a torchvision ResNet state dict into a reslab ``model`` (strictly), refusing
    a model that cannot hold it faithfully; ``where`` and ``label`` name both in errors."""
    reason = torchvision_mismatch(unwrap(model), allow_stride_mismatch=allow_stride_mismatch)
    if reason:
        raise CheckpointError(f"{where}: torchvision weights do not fit {label}: {reason}")
    load_strict(unwrap(model), bare_state_dict(state_dict, where), where, label)
    return model


def save_torchvision(
    model: nn.Module, path: str | Path, *, allow_stride_mismatch: bool = False
) -> None:
    """Write ``model``'s weights as torchvision saves a ResNet's (a bare state dict), so that
    ``torchvision.models.resnetNN().load_state_dict(torch.load(path))`` takes them."""
    model = unwrap(model)
    reason = torchvision_mismatch(model, allow_stride_mismatch=allow_stride_mismatch)
    if reason:
        raise OptionError(f"cannot save {path} in torchvision layout: {reason}")
    save_atomic({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def torchvision_mismatch(model: nn.Module, *, allow_stride_mismatch: bool = False) -> str | None:
    """Why ``model``'s weights cannot be torchvision's, or None where they can."""
    if not isinstance(model, ResNet):
        return f"it is a {type(model).__name__}, not a reslab ResNet"
    if model.stem != "imagenet" or model.widths != IMAGENET_WIDTHS:
        return "torchvision has only ImageNet ResNets (7x7 stem, 64-128-256-512 filters)"
    if model.block.preact:
        return "torchvision has no pre-activation ResNets"
    if model.shortcut is None:
        return "torchvision has no plain (shortcut-free) networks"
    if model.shortcut != "B":
        return (
            "torchvision's shortcuts are option B (a projection only where the shape "
            f"changes); this model uses option {model.shortcut}"
        )
    if any(isinstance(m, nn.Conv2d) and m.bias is not None for m in model.modules()):
        return "its convolutions have biases (BatchNorm folded into them?); torchvision's do not"
    if model.block is Bottleneck and model.stride_on_1x1 and not allow_stride_mismatch:
        return (
            "torchvision's bottlenecks stride the 3x3 (v1.5), this model the first 1x1 (v1): "
            "same tensors, different function. Use stride_on_1x1=False, or "
            "allow_stride_mismatch=True if the mismatch is meant"
        )
    return None


def torchvision_arch(state_dict: Mapping[str, Tensor]) -> tuple[type, tuple[int, ...]] | None:
    """(unit class, units per stage) of a torchvision-layout ResNet state dict, from its
    keys; None where the keys are not those of such a network."""
    layers = []
    for stage in count(1):
        units = next(j for j in count() if f"layer{stage}.{j}.conv1.weight" not in state_dict)
        if units == 0:
            break
        layers.append(units)
    if not layers or "conv1.weight" not in state_dict or "fc.weight" not in state_dict:
        return None
    return (Bottleneck if "layer1.0.conv3.weight" in state_dict else BasicBlock), tuple(layers)


def bare_state_dict(obj: object, where: str) -> dict[str, Tensor]:
    """The state dict in ``obj``: ``obj`` itself or what training scripts wrap it in
    (``{"state_dict": ...}``, ``{"model": ...}``), names stripped of DDP/compile prefixes."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if (
        not isinstance(obj, Mapping)
        or not obj
        or not all(isinstance(v, Tensor) for v in obj.values())
    ):
        raise CheckpointError(f"{where}: neither a reslab checkpoint nor a state dict of tensors")
    return {_strip_prefixes(k): v for k, v in obj.items()}


def load_strict(model: nn.Module, state_dict: Mapping[str, Tensor], where: str, label: str) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with an error that names the first
    missing, unexpected or misshapen tensors and guesses what the weights are."""
    own = model.state_dict()
    # Files saved before PyTorch 0.4.1 (torchvision's first ResNet weights among them) lack
    # BN's num_batches_tracked, which only matters for momentum=None.
    state_dict = {
        **{k: v for k, v in own.items() if k.endswith("num_batches_tracked")},
        **state_dict,
    }
    problems = []
    missing = sorted(own.keys() - state_dict.keys())
    unexpected = sorted(state_dict.keys() - own.keys())
    if missing:
        problems.append(f"{len(missing)} tensors missing ({_first(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_first(unexpected)})")
    misshapen = [k for k in own if k in state_dict and own[k].shape != state_dict[k].shape]
    if misshapen:
        k = misshapen[0]
        problems.append(
            f"{k} is {_shape(state_dict[k])} in the weights but {_shape(own[k])} in {label}"
        )
    if problems:
        raise CheckpointError(
            f"{where}: weights{_guess(state_dict)} do not fit {label}: {'; '.join(problems)}"
        )
    model.load_state_dict(state_dict, strict=True)


def _read(weights: WeightsSource) -> tuple[object, str]:
    if isinstance(weights, Mapping):
        return weights, "the given weights"
    path = resolve_checkpoint(weights)
    return load_file(path), str(path)


def _from_checkpoint(
    name: str, ckpt: dict[str, Any], options: dict[str, Any], where: str
) -> ResNet:
    spec = ckpt["model"]
    saved = spec.get("options", {})
    if spec["name"] != name:
        raise CheckpointError(
            f"{where} holds {_spec(spec['name'], saved)}, not the requested {_spec(name, options)}"
        )
    defaults = get_entry(name).defaults
    clash = [k for k in options if k not in INIT_ONLY and options[k] != saved.get(k, defaults[k])]
    if clash:
        theirs = {k: saved.get(k, defaults[k]) for k in clash}
        raise CheckpointError(
            f"{where} holds {_spec(name, theirs)}, not the requested "
            f"{_spec(name, {k: options[k] for k in clash})}"
        )
    return model_from_checkpoint(ckpt)


def _from_torchvision(
    name: str, state_dict: dict[str, Tensor], options: dict[str, Any], where: str
) -> ResNet:
    entry = get_entry(name)
    asked = dict(options)
    if "stride_on_1x1" in entry.options:
        asked.setdefault("stride_on_1x1", False)  # torchvision's placement (v1.5)
    # The head and stem sizes are what the tensors say, unless the caller says otherwise
    # (then the shape check names the clash).
    for option, key, dim in (("num_classes", "fc.weight", 0), ("in_chans", "conv1.weight", 1)):
        if key in state_dict and state_dict[key].ndim > dim:
            asked.setdefault(option, state_dict[key].shape[dim])
    model = entry.build(**asked)
    label = _spec(name, options)
    reason = torchvision_mismatch(model)
    if reason:
        raise CheckpointError(
            f"{where}: a bare state dict is read in torchvision's ResNet layout (reslab's own "
            f"weights come in checkpoints), and {label} cannot hold it: {reason}"
        )
    load_strict(model, state_dict, where, label)
    return model


def _from_akamaster(
    name: str, state_dict: dict[str, Tensor], options: dict[str, Any], where: str
) -> ResNet:
    foreign = read_foreign(state_dict, where)
    if foreign.name != name:
        raise CheckpointError(
            f"{where} holds {AKAMASTER}'s {foreign.name}, not the requested {name}"
        )
    clash = [k for k in options if k not in INIT_ONLY and options[k] != foreign.options.get(k)]
    if clash:
        raise CheckpointError(
            f"{where} holds {_spec(name, {k: foreign.options.get(k) for k in clash})} "
            f"({AKAMASTER}), not the requested {_spec(name, {k: options[k] for k in clash})}"
        )
    model = get_entry(name).build(**{**options, **foreign.options})
    load_strict(model, foreign.state_dict, where, _spec(name, options))
    return model


def _guess(state_dict: Mapping[str, Tensor]) -> str:
    arch = torchvision_arch(state_dict)
    if arch is None:
        return ""
    block, layers = arch
    name = TORCHVISION_RESNETS.get(arch)
    return f" (torchvision's {name})" if name else f" ({block.__name__} units {layers})"


def _spec(name: str, options: Mapping[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return f"{name}({args})" if args else name


def _strip_prefixes(key: str) -> str:
    for prefix in _PREFIXES:
        key = key.removeprefix(prefix)
    return key


def _first(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")


def _shape(t: Tensor) -> str:
    return "x".join(map(str, t.shape)) or "a scalar"

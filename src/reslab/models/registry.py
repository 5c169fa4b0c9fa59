"""Registry of named model variants: ``create_model``, ``list_models`` and
``model_from_checkpoint``."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from reslab.errors import CheckpointError, OptionError, ReslabError, unknown
from reslab.models.blocks import Unit
from reslab.models.resnet import CIFAR_WIDTHS, IMAGENET_WIDTHS, ResNet

if TYPE_CHECKING:
    from reslab.models.features import ResNetFeatures

Family = Literal["imagenet", "cifar"]
NATIVE_INPUT: dict[str, int] = {"imagenet": 224, "cifar": 32}
# Each family's stem (ResNet's ``stem`` argument has the family's name) and filters per stage.
WIDTHS: dict[str, tuple[int, ...]] = {"imagenet": IMAGENET_WIDTHS, "cifar": CIFAR_WIDTHS}
# A checkpoint or state-dict file (or RUN_DIR), or a state dict / checkpoint dict in memory.
WeightsSource = str | PathLike | Mapping[str, Any]


@dataclass(frozen=True)
class PaperFigures:
    """What the source paper prints for a model, as printed (None where it prints nothing).

    ``macs`` are multiply-adds ("FLOPs" in the 2015 paper's Table 1); errors are top-1/top-5
    in percent on the dataset and protocol that ``source`` names.
    """

    source: str
    params: float | None = None
    macs: float | None = None
    top1_err: float | None = None
    top5_err: float | None = None


@dataclass(frozen=True)
class ModelEntry:
    """A registered variant as data: the :class:`ResNet` it builds and the options it leaves
    open, each with the value it takes when not given.

    ``defaults`` lists the options in the order errors name them; ``fixed`` holds the other
    keyword arguments of :class:`ResNet` the variant sets (``shortcut=None`` of a plain net);
    stem and filters are the family's.
    """

    name: str
    family: Family
    block: type[Unit]
    layers: tuple[int, ...]
    defaults: Mapping[str, object]
    paper: PaperFigures | None
    fixed: Mapping[str, object]

    @property
    def input_size(self) -> int:
        return NATIVE_INPUT[self.family]

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(self.defaults)

    def build(self, **options: object) -> ResNet:
        """The network with ``options`` (checked by :func:`create_model`) over the defaults."""
        arguments = {**self.defaults, **options}
        widths = WIDTHS[self.family]
        return ResNet(
            self.block, self.layers, widths=widths, stem=self.family, **self.fixed, **arguments
        )


_REGISTRY: dict[str, ModelEntry] = {}


def register(
    family: Family,
    name: str,
    block: type[Unit],
    layers: tuple[int, ...],
    defaults: Mapping[str, object],
    paper: PaperFigures | None = None,
    **fixed: object,
) -> ModelEntry:
    """Register a variant (see :class:`ModelEntry`); a second registration of a name raises."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    both = sorted(set(defaults) & set(fixed))
    if both:
        raise ValueError(f"model {name!r}: {', '.join(both)} cannot be both fixed and an option")
    defaults, fixed = MappingProxyType(dict(defaults)), MappingProxyType(fixed)
    entry = ModelEntry(name, family, block, tuple(layers), defaults, paper, fixed)
    _REGISTRY[name] = entry
    return entry


def get_entry(name: str) -> ModelEntry:
    _load_zoo()
    if name not in _REGISTRY:
        raise unknown("model", name, _REGISTRY)
    return _REGISTRY[name]


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted by family and depth; ``pattern`` is a shell-style glob."""
    _load_zoo()
    names = [n for n in _REGISTRY if pattern is None or fnmatch.fnmatchcase(n, pattern)]
    return sorted(names, key=_sort_key)


def create_model(
    name: str,
    *,
    weights: WeightsSource | None = None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    **options: object,
) -> ResNet | ResNetFeatures:
    """Build the registered model ``name``; ``options`` override its defaults.

    ``weights`` loads a reslab checkpoint (file or RUN_DIR) or a bare state dict in a
    layout reslab reads (torchvision's ImageNet ResNets, akamaster/pytorch_resnet_cifar10's
    CIFAR ResNets; file or mapping); the weights then decide the options they fix, and any
    option given must agree with them (see :mod:`reslab.models.weights`).

    ``features_only=True`` returns the backbone (:mod:`reslab.models.features`, timm's
    convention): the outputs of ``out_indices`` (0 = stem, i = stage i; default every
    stage) as a list, with ``feature_info`` (channels, strides, module names).

    >>> create_model("resnet56").depth
    56
    >>> create_model("resnet50", stride_on_1x1=False, num_classes=10).fc.out_features
    10
    >>> create_model("resnet50", features_only=True).feature_info.reduction()
    [4, 8, 16, 32]
    """
    if out_indices is not None and not features_only:
        raise OptionError("out_indices selects backbone outputs: it needs features_only=True")
    net = _create(name, weights, options)
    if not features_only:
        return net
    from reslab.models.features import ResNetFeatures

    indices = range(1, len(net.stage_names) + 1) if out_indices is None else out_indices
    return ResNetFeatures(net, indices)


def _create(name: str, weights: WeightsSource | None, options: dict[str, object]) -> ResNet:
    entry = get_entry(name)
    bad = sorted(set(options) - set(entry.options))
    if bad:
        raise OptionError(
            f"model {name!r} takes no option {', '.join(bad)}; its options are "
            f"{', '.join(entry.options)}"
        )
    if weights is not None:
        from reslab.models.weights import build_with_weights

        return build_with_weights(name, weights, options)
    return entry.build(**options)


def _sort_key(name: str) -> tuple:
    """CIFAR before ImageNet; residual, plain, pre-activation; then by depth."""
    kind = name.rstrip("0123456789")
    depth = int(name[len(kind) :] or 0)
    kinds = ("resnet", "plain", "preact_resnet")
    return (_REGISTRY[name].family != "cifar", kinds.index(kind) if kind in kinds else 9, depth)


def _load_zoo() -> None:
    import reslab.models.zoo  # noqa: F401  (registers on import)


def model_from_checkpoint(ckpt: Mapping[str, Any]) -> ResNet:
    """Rebuild the registered model a checkpoint (``reslab.checkpoint``'s format) names and
    load its weights (strict)."""
    spec = ckpt["model"]
    try:
        model = create_model(spec["name"], **spec.get("options", {}))
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except ReslabError as err:
        raise CheckpointError(f"checkpoint names a model this reslab cannot build: {err}") from None
    except RuntimeError as err:
        raise CheckpointError(
            f"checkpoint weights do not fit model {spec['name']!r}: {str(err).splitlines()[0]}"
        ) from None
    return model

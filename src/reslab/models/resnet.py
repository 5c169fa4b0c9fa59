"""The one ResNet class: stem, stages of units, head.

Every network of the 2015 paper (plain and residual, ImageNet and CIFAR) and of the 2016
pre-activation paper is an instance of :class:`ResNet` with different arguments; the
named variants live in :mod:`reslab.models.zoo`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Literal

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from reslab.errors import OptionError, check_choice
from reslab.models.blocks import SHORTCUTS, UNITS, Shortcut, Unit, conv3x3

Stem = Literal["imagenet", "cifar"]
IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)


class ResNet(nn.Module):
    """A residual (or plain) network.

    Args:
        block: the unit class (:class:`BasicBlock`, :class:`Bottleneck` or a pre-activation
            unit); a plain network uses a post-activation unit with ``shortcut=None``.
        layers: units per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-34/50.
        widths: the 3x3 filters per stage; a stage outputs ``width * block.expansion``.
        stem: ``"imagenet"`` = 7x7/2 conv and 3x3/2 max-pool (Table 1); ``"cifar"`` = one
            3x3 conv with ``widths[0]`` filters (Sec. 4.2).
        shortcut: ``"A"``, ``"B"``, ``"C"`` or ``None`` for a plain network (Sec. 3.3).
        stride_on_1x1: where a bottleneck's downsampling stride goes: the first 1x1 (True,
            the paper, "v1") or the 3x3 (False, torchvision, "v1.5").
        num_classes: outputs of the final fully-connected layer.
        in_chans: input channels (1 for grayscale).
        zero_init_residual: zero the last BN (post-activation) or conv (pre-activation) of
            every residual branch; the paper's value is False.

    ``checkpoint_activations`` (an attribute, not an option: it changes memory and time,
    never the function) keeps only each unit's input for the backward pass and recomputes
    the rest there, unit by unit (the paper's value is False).
    """

    checkpoint_activations: bool = False

    def __init__(
        self,
        block: type[Unit],
        layers: Sequence[int],
        *,
        widths: Sequence[int] = IMAGENET_WIDTHS,
        stem: Stem = "imagenet",
        shortcut: Shortcut = "B",
        stride_on_1x1: bool = True,
        num_classes: int = 1000,
        in_chans: int = 3,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        _validate(block, layers, widths, stem, shortcut, num_classes, in_chans)
        self.block, self.layers, self.widths = block, tuple(layers), tuple(widths)
        self.stem, self.shortcut, self.stride_on_1x1 = stem, shortcut, stride_on_1x1

        c = widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_chans, c, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = conv3x3(in_chans, c)
        # Every stem ends with BN-ReLU; in a pre-activation net it is the first unit's
        # pre-activation, which that unit then omits (2016, Appendix; blocks._PreActUnit).
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()

        self.stage_names = tuple(f"layer{i + 1}" for i in range(len(layers)))
        for i, (name, n, width) in enumerate(zip(self.stage_names, layers, widths, strict=True)):
            stride = 1 if i == 0 else 2
            self.add_module(name, self._stage(c, width, n, stride, first=i == 0))
            c = width * block.expansion
        # Pre-activation nets end with BN-ReLU, since no unit activates its output (2016).
        self.final_bn = nn.BatchNorm2d(c) if block.preact else None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        self.num_features = c
        self._init_weights(zero_init_residual)

    def _stage(self, in_ch: int, width: int, n: int, stride: int, first: bool) -> nn.Sequential:
        """``first``: the network's first stage, whose first pre-activation unit reads the
        stem's BN-ReLU instead of its own."""
        out_ch = width * self.block.expansion
        units = []
        for i in range(n):
            c_in, s = (in_ch, stride) if i == 0 else (out_ch, 1)
            extra = {"first": True} if first and i == 0 and self.block.preact else {}
            units.append(self.block(c_in, width, s, self.shortcut, self.stride_on_1x1, **extra))
        return nn.Sequential(*units)

    def _init_weights(self, zero_init_residual: bool) -> None:
        # He et al. 2015b ("Delving deep into rectifiers"), as cited in Sec. 3.4; fan_out as
        # in fb.resnet.torch and torchvision. BN starts as the identity: weight 1, bias 0.
        if self.fc.weight.is_meta:  # shapes only (profiling): there are no values to set
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Unit) and m.residual:
                    m.zero_init_last()

    @property
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, name) for name in self.stage_names]

    @property
    def depth(self) -> int:
        """Weighted layers on the longest path: stem conv + units + fc (e.g. 6n+2 on CIFAR)."""
        return 2 + self.block.convs * sum(self.layers)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, in_chans, H, W) -> (N, num_features, H/s, W/s), s = 32 (ImageNet) or 4 (CIFAR)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        if self.checkpoint_activations and torch.is_grad_enabled():
            for unit in (u for stage in self.stages for u in stage):
                x = _checkpointed(unit, x)
        else:
            for stage in self.stages:
                x = stage(x)
        if self.final_bn is not None:
            x = torch.relu(self.final_bn(x))
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.forward_features(x))
        return self.fc(torch.flatten(x, 1))


def _checkpointed(unit: nn.Module, x: Tensor) -> Tensor:
    if torch.compiler.is_compiling():
        # Compiled graphs recompute without replaying the BN buffer updates (they are
        # functionalised into the forward), and Dynamo takes no context_fn.
        return checkpoint(unit, x, use_reentrant=False)
    return checkpoint(unit, x, use_reentrant=False, context_fn=lambda: _keep_bn_stats(unit))


def _keep_bn_stats(unit: nn.Module):
    """Checkpoint contexts: the forward as is; the backward's recomputation leaves the BN
    running statistics (and batch counts) as the forward left them, so that they are
    updated once per step, as without checkpointing."""
    return contextlib.nullcontext(), _restoring_buffers(unit)


@contextlib.contextmanager
def _restoring_buffers(module: nn.Module) -> Iterator[None]:
    saved = [(b, b.clone()) for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def _validate(
    block: type[Unit],
    layers: Sequence[int],
    widths: Sequence[int],
    stem: str,
    shortcut: object,
    num_classes: int,
    in_chans: int,
) -> None:
    check_choice("block", block, UNITS.values())
    check_choice("stem", stem, ("imagenet", "cifar"))
    check_choice("shortcut", shortcut, SHORTCUTS)
    if block.preact and shortcut is None:
        raise OptionError("shortcut=None (a plain net) needs a post-activation block")
    if not layers or len(layers) != len(widths):
        raise OptionError(
            f"layers and widths must be non-empty and of equal length; got {tuple(layers)} "
            f"and {tuple(widths)}"
        )
    for arg, values in (("layers", layers), ("widths", widths)):
        if any(not isinstance(v, int) or v < 1 for v in values):
            raise OptionError(f"{arg} must hold positive integers; got {tuple(values)}")
    for arg, value in (("num_classes", num_classes), ("in_chans", in_chans)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise OptionError(f"{arg} must be a positive integer; got {value!r}")

"""Residual units and their shortcuts.

Post-activation units follow He et al. 2015 ("Deep Residual Learning", Fig. 2 and 5);
pre-activation units follow He et al. 2016 ("Identity Mappings in Deep Residual Networks",
Fig. 4e). Attribute names follow torchvision (``conv1``, ``bn1``, ..., ``downsample``) so
that ImageNet-family state dicts are interchangeable with torchvision's.

Shortcut options (2015, Sec. 3.3 and 4.1):

- ``"A"``: parameter-free. Identity where the shape is kept; where it changes, subsample
  spatially by the stride and zero-pad the new channels.
- ``"B"``: identity where the shape is kept, a 1x1 projection where it changes.
- ``"C"``: a 1x1 projection in every unit.
- ``None``: no shortcut at all (the "plain" networks); the unit performs no addition.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch.nn.functional as F
from torch import Tensor, nn

Shortcut = Literal["A", "B", "C"] | None
SHORTCUTS: tuple[Shortcut, ...] = ("A", "B", "C", None)


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Option A where the shape changes: (N, C, H, W) -> (N, C + extra, H/s, W/s).

    The first C output channels are the subsampled input, the ``extra`` new ones are zeros.
    """

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = extra_channels

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        # F.pad's pairs run from the last dimension backwards: (W, W, H, H, C_before, C_after).
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra_channels}"


def make_shortcut(
    option: Shortcut, in_ch: int, out_ch: int, stride: int, *, with_bn: bool = True
) -> nn.Module | None:
    """The shortcut branch of a unit, or ``None`` where it is the identity (or absent)."""
    reshapes = stride != 1 or in_ch != out_ch
    if option is None or (option in ("A", "B") and not reshapes):
        return None
    if option == "A":
        return ZeroPadShortcut(stride, out_ch - in_ch)
    # Options B and C: a 1x1 projection; torchvision names it downsample.0 (conv), .1 (bn).
    layers: list[nn.Module] = [conv1x1(in_ch, out_ch, stride)]
    if with_bn:
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers)


class Unit(nn.Module):
    """What the :class:`~reslab.models.resnet.ResNet` builder needs to know of a unit."""

    expansion: ClassVar[int]  # out_channels = width * expansion
    convs: ClassVar[int]  # weighted layers on the residual branch (for the depth count)
    preact: ClassVar[bool]

    def __init__(self, shortcut: Shortcut) -> None:
        super().__init__()
        self.residual = shortcut is not None

    def zero_init_last(self) -> None:
        """Make the residual branch output zero at initialisation (Goyal et al. 2017)."""
        raise NotImplementedError


class BasicBlock(Unit):
    """Two 3x3 convolutions (2015, Fig. 2 and Fig. 5 left)."""

    expansion = 1
    convs = 2
    preact = False

    def __init__(
        self, in_ch: int, width: int, stride: int, shortcut: Shortcut, stride_on_1x1: bool = True
    ) -> None:
        super().__init__(shortcut)
        del stride_on_1x1  # a basic block has no 1x1 convolution: the stride is on conv1
        self.conv1 = conv3x3(in_ch, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = make_shortcut(shortcut, in_ch, width, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn2.weight)


class Bottleneck(Unit):
    """1x1 reduce, 3x3, 1x1 expand by 4 (2015, Fig. 5 right).

    ``stride_on_1x1=True`` puts a downsampling stride on the first 1x1 convolution, as the
    paper and its released Caffe models do ("v1"); ``False`` puts it on the 3x3, as
    torchvision does ("v1.5": same parameters, more multiply-adds, about 0.5 % better top-1).
    """

    expansion = 4
    convs = 3
    preact = False

    def __init__(
        self, in_ch: int, width: int, stride: int, shortcut: Shortcut, stride_on_1x1: bool = True
    ) -> None:
        super().__init__(shortcut)
        out_ch = width * self.expansion
        s1, s3 = (stride, 1) if stride_on_1x1 else (1, stride)
        self.conv1 = conv1x1(in_ch, width, s1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, s3)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_ch)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = make_shortcut(shortcut, in_ch, out_ch, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight)


class _PreActUnit(Unit):
    """Shared forward of the full pre-activation units (2016, Fig. 4e).

    Where a projection shortcut exists it reads the pre-activated input, as in the
    authors' code; an identity or zero-pad shortcut reads the raw input, so that the
    signal propagates unchanged from unit to unit.

    The network's first unit (``first=True``) has no BN-ReLU of its own: the stem's
    conv-BN-ReLU is "the first activation right after conv1 and before splitting into two
    paths" (2016, Appendix), so both its paths read the activated stem output. This is
    fb.resnet.torch's ``preresnet.lua`` "first" block, applied to the first unit only
    (its ``layer()`` hands the type to every unit of stage 1, which would drop the
    pre-activation of units 2..n that Fig. 4e gives them). Such a unit has no ``bn1``.
    """

    preact = True
    downsample: nn.Module | None
    bn1: nn.BatchNorm2d | None

    def _pre(self, x: Tensor) -> Tensor:
        return x if self.bn1 is None else self.relu(self.bn1(x))

    def _shortcut(self, x: Tensor, pre: Tensor) -> Tensor:
        if self.downsample is None:
            return x
        return self.downsample(x if isinstance(self.downsample, ZeroPadShortcut) else pre)


class PreActBasicBlock(_PreActUnit):
    """BN-ReLU-conv3x3, BN-ReLU-conv3x3, then the addition (nothing after it)."""

    expansion = 1
    convs = 2

    def __init__(
        self,
        in_ch: int,
        width: int,
        stride: int,
        shortcut: Shortcut,
        stride_on_1x1: bool = True,
        *,
        first: bool = False,
    ) -> None:
        super().__init__(shortcut)
        del stride_on_1x1
        self.bn1 = None if first else nn.BatchNorm2d(in_ch)
        self.conv1 = conv3x3(in_ch, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width)
        self.relu = nn.ReLU(inplace=False)  # the raw input may still feed the shortcut
        self.downsample = make_shortcut(shortcut, in_ch, width, stride, with_bn=False)

    def forward(self, x: Tensor) -> Tensor:
        pre = self._pre(x)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + self._shortcut(x, pre)

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2.weight)


class PreActBottleneck(_PreActUnit):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1 (x4), then the addition.

    The authors' ResNet-1001 code (KaimingHe/resnet-1k-layers) strides the first 1x1, as
    the 2015 paper does, hence the default ``stride_on_1x1=True``.
    """

    expansion = 4
    convs = 3

    def __init__(
        self,
        in_ch: int,
        width: int,
        stride: int,
        shortcut: Shortcut,
        stride_on_1x1: bool = True,
        *,
        first: bool = False,
    ) -> None:
        super().__init__(shortcut)
        out_ch = width * self.expansion
        s1, s3 = (stride, 1) if stride_on_1x1 else (1, stride)
        self.bn1 = None if first else nn.BatchNorm2d(in_ch)
        self.conv1 = conv1x1(in_ch, width, s1)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, s3)
        self.bn3 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_ch)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = make_shortcut(shortcut, in_ch, out_ch, stride, with_bn=False)

    def forward(self, x: Tensor) -> Tensor:
        pre = self._pre(x)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + self._shortcut(x, pre)

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv3.weight)


UNITS: dict[str, type[Unit]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "preact_basic": PreActBasicBlock,
    "preact_bottleneck": PreActBottleneck,
}


def unit_name(block: type[Unit]) -> str:
    return next(name for name, cls in UNITS.items() if cls is block)


__all__ = [
    "SHORTCUTS",
    "UNITS",
    "BasicBlock",
    "Bottleneck",
    "PreActBasicBlock",
    "PreActBottleneck",
    "Shortcut",
    "Unit",
    "ZeroPadShortcut",
    "conv1x1",
    "conv3x3",
    "make_shortcut",
]

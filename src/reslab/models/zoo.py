"""The named variants. Each is one call of :class:`ResNet` with explicit arguments.

Sources: "2015" is He, Zhang, Ren, Sun, *Deep Residual Learning for Image Recognition*
(ImageNet errors are 10-crop on the validation set, Tables 2-3; CIFAR-10 errors are test
errors, Table 6). "2016" is He, Zhang, Ren, Sun, *Identity Mappings in Deep Residual
Networks* (CIFAR-10 errors from Tables 3-4; ImageNet from Table 5, single 320x320 crop).
"""

from __future__ import annotations

from reslab.models.blocks import (
    BasicBlock,
    Bottleneck,
    PreActBasicBlock,
    PreActBottleneck,
    Shortcut,
)
from reslab.models.registry import PaperFigures as P
from reslab.models.registry import register
from reslab.models.resnet import CIFAR_WIDTHS as CIFAR
from reslab.models.resnet import ResNet

# --- ImageNet, 2015 (Table 1). Default shortcut "B" as in Table 3; stride on the 1x1 ("v1").


# Table 2's 27.88 % top-1 is ResNet-18 with option A; the paper prints no error for the
# default option B, so none is quoted (issue 17).
@register("imagenet", P("2015 Table 1 (Table 2: 27.88 % top-1 with option A)", macs=1.8e9))
def resnet18(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """ResNet-18: Table 1, 1.8 GFLOPs; no error printed for option B (Table 2: 27.88 % with A)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("imagenet", P("2015 Table 1; Table 3 (option B)", macs=3.6e9, top1_err=24.52, top5_err=7.46))
def resnet34(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """ResNet-34: Table 1, 3.6 GFLOPs; Table 3 row 34 B, 24.52 / 7.46 % top-1 / top-5."""
    return ResNet(BasicBlock, (3, 4, 6, 3), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("imagenet", P("2015 Table 1; Table 3", macs=3.8e9, top1_err=22.85, top5_err=6.71))
def resnet50(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """ResNet-50: Table 1, 3.8 GFLOPs; Table 3, 22.85 / 6.71 % top-1 / top-5."""
    return ResNet(Bottleneck, (3, 4, 6, 3), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("imagenet", P("2015 Table 1; Table 3", macs=7.6e9, top1_err=21.75, top5_err=6.05))
def resnet101(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """ResNet-101: Table 1, 7.6 GFLOPs; Table 3, 21.75 / 6.05 % top-1 / top-5."""
    return ResNet(Bottleneck, (3, 4, 23, 3), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("imagenet", P("2015 Table 1; Table 3", macs=11.3e9, top1_err=21.43, top5_err=5.71))
def resnet152(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """ResNet-152: Table 1, 11.3 GFLOPs; Table 3, 21.43 / 5.71 % top-1 / top-5."""
    return ResNet(Bottleneck, (3, 8, 36, 3), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("imagenet", P("2015 Table 1; Table 2", macs=1.8e9, top1_err=27.94))
def plain18(**kw) -> ResNet:
    """Plain-18: Table 2, 27.94 % top-1."""
    return ResNet(BasicBlock, (2, 2, 2, 2), stem="imagenet", shortcut=None, **kw)


@register("imagenet", P("2015 Table 1; Table 2", macs=3.6e9, top1_err=28.54))
def plain34(**kw) -> ResNet:
    """Plain-34: Table 2, 28.54 % top-1 (higher than plain-18: the degradation problem)."""
    return ResNet(BasicBlock, (3, 4, 6, 3), stem="imagenet", shortcut=None, **kw)


# --- CIFAR, 2015 (Sec. 4.2): 6n+2 layers, {16, 32, 64} filters, option A.


@register("cifar", P("2015 Table 6", params=0.27e6, top1_err=8.75))
def resnet20(*, shortcut: Shortcut = "A", num_classes: int = 10, **kw) -> ResNet:
    """ResNet-20: Table 6, 0.27M params, 8.75 % error."""
    return ResNet(BasicBlock, (3, 3, 3), widths=CIFAR, stem="cifar", shortcut=shortcut, num_classes=num_classes, **kw)


@register("cifar", P("2015 Table 6", params=0.46e6, top1_err=7.51))
def resnet32(*, shortcut: Shortcut = "A", num_classes: int = 10, **kw) -> ResNet:
    """ResNet-32: Table 6, 0.46M params, 7.51 % error."""
    return ResNet(BasicBlock, (5, 5, 5), widths=CIFAR, stem="cifar", shortcut=shortcut, num_classes=num_classes, **kw)


@register("cifar", P("2015 Table 6", params=0.66e6, top1_err=7.17))
def resnet44(*, shortcut: Shortcut = "A", num_classes: int = 10, **kw) -> ResNet:
    """ResNet-44: Table 6, 0.66M params, 7.17 % error."""
    return ResNet(BasicBlock, (7, 7, 7), widths=CIFAR, stem="cifar", shortcut=shortcut, num_classes=num_classes, **kw)


@register("cifar", P("2015 Table 6", params=0.85e6, top1_err=6.97))
def resnet56(*, shortcut: Shortcut = "A", num_classes: int = 10, **kw) -> ResNet:
    """ResNet-56: Table 6, 0.85M params, 6.97 % error."""
    return ResNet(BasicBlock, (9, 9, 9), widths=CIFAR, stem="cifar", shortcut=shortcut, num_classes=num_classes, **kw)


@register("cifar", P("2015 Table 6 (best of 5; mean 6.61 +- 0.16)", params=1.7e6, top1_err=6.43))
def resnet110(*, shortcut: Shortcut = "A", num_classes: int = 10, **kw) -> ResNet:
    """ResNet-110: Table 6, 1.7M params, 6.43 % error (best of 5 runs; 6.61 +- 0.16)."""
    return ResNet(BasicBlock, (18, 18, 18), widths=CIFAR, stem="cifar", shortcut=shortcut, num_classes=num_classes, **kw)


@register("cifar", P("2015 Table 6", params=19.4e6, top1_err=7.93))
def resnet1202(*, shortcut: Shortcut = "A", num_classes: int = 10, **kw) -> ResNet:
    """ResNet-1202: Table 6, 19.4M params, 7.93 % error (overfits, Sec. 4.2)."""
    return ResNet(BasicBlock, (200, 200, 200), widths=CIFAR, stem="cifar", shortcut=shortcut, num_classes=num_classes, **kw)


@register("cifar", P("2015 Fig. 6 (curves only)"))
def plain20(*, num_classes: int = 10, **kw) -> ResNet:
    """Plain-20: Fig. 6 left."""
    return ResNet(BasicBlock, (3, 3, 3), widths=CIFAR, stem="cifar", shortcut=None, num_classes=num_classes, **kw)


@register("cifar", P("2015 Fig. 6 (curves only)"))
def plain32(*, num_classes: int = 10, **kw) -> ResNet:
    """Plain-32: Fig. 6 left."""
    return ResNet(BasicBlock, (5, 5, 5), widths=CIFAR, stem="cifar", shortcut=None, num_classes=num_classes, **kw)


@register("cifar", P("2015 Fig. 6 (curves only)"))
def plain44(*, num_classes: int = 10, **kw) -> ResNet:
    """Plain-44: Fig. 6 left."""
    return ResNet(BasicBlock, (7, 7, 7), widths=CIFAR, stem="cifar", shortcut=None, num_classes=num_classes, **kw)


@register("cifar", P("2015 Fig. 6 (curves only)"))
def plain56(*, num_classes: int = 10, **kw) -> ResNet:
    """Plain-56: Fig. 6 left (higher training error than plain-20)."""
    return ResNet(BasicBlock, (9, 9, 9), widths=CIFAR, stem="cifar", shortcut=None, num_classes=num_classes, **kw)


@register("cifar", P("2015 Sec. 4.2 (> 60 % error, did not converge)"))
def plain110(*, num_classes: int = 10, **kw) -> ResNet:
    """Plain-110: Sec. 4.2, error above 60 % (the paper does not plot it)."""
    return ResNet(BasicBlock, (18, 18, 18), widths=CIFAR, stem="cifar", shortcut=None, num_classes=num_classes, **kw)


# --- Pre-activation, 2016 (Fig. 4e). Projection shortcuts where the shape changes, as in
# the authors' code; the ImageNet family keeps the 2015 stem.


@register("imagenet")
def preact_resnet18(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """Pre-activation ResNet-18 (no figures in the 2016 paper)."""
    return ResNet(PreActBasicBlock, (2, 2, 2, 2), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("imagenet")
def preact_resnet34(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """Pre-activation ResNet-34 (no figures in the 2016 paper)."""
    return ResNet(PreActBasicBlock, (3, 4, 6, 3), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("imagenet")
def preact_resnet50(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """Pre-activation ResNet-50 (no figures in the 2016 paper)."""
    return ResNet(PreActBottleneck, (3, 4, 6, 3), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("imagenet")
def preact_resnet101(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """Pre-activation ResNet-101 (no figures in the 2016 paper)."""
    return ResNet(PreActBottleneck, (3, 4, 23, 3), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("imagenet", P("2016 Table 5 (single 320x320 crop)", top1_err=21.1, top5_err=5.5))
def preact_resnet152(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, **kw) -> ResNet:
    """Pre-activation ResNet-152: 2016 Table 5, 21.1 / 5.5 % top-1 / top-5 (320 crop)."""
    return ResNet(PreActBottleneck, (3, 8, 36, 3), stem="imagenet", shortcut=shortcut, stride_on_1x1=stride_on_1x1, **kw)


@register("cifar")
def preact_resnet20(*, shortcut: Shortcut = "B", num_classes: int = 10, **kw) -> ResNet:
    """Pre-activation ResNet-20 (no figures in the 2016 paper)."""
    return ResNet(PreActBasicBlock, (3, 3, 3), widths=CIFAR, stem="cifar", shortcut=shortcut, num_classes=num_classes, **kw)


@register("cifar")
def preact_resnet56(*, shortcut: Shortcut = "B", num_classes: int = 10, **kw) -> ResNet:
    """Pre-activation ResNet-56 (no figures in the 2016 paper)."""
    return ResNet(PreActBasicBlock, (9, 9, 9), widths=CIFAR, stem="cifar", shortcut=shortcut, num_classes=num_classes, **kw)


@register("cifar", P("2016 Table 3", params=1.7e6, top1_err=6.37))
def preact_resnet110(*, shortcut: Shortcut = "B", num_classes: int = 10, **kw) -> ResNet:
    """Pre-activation ResNet-110: 2016 Table 3, 6.37 % error."""
    return ResNet(PreActBasicBlock, (18, 18, 18), widths=CIFAR, stem="cifar", shortcut=shortcut, num_classes=num_classes, **kw)


@register("cifar", P("2016 Tables 3-4 (params: Table 4)", params=1.7e6, top1_err=5.46))
def preact_resnet164(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, num_classes: int = 10, **kw) -> ResNet:
    """Pre-activation ResNet-164 (9n+2, bottleneck): 2016 Tables 3-4, 5.46 % error; 1.7M params."""
    return ResNet(PreActBottleneck, (18, 18, 18), widths=CIFAR, stem="cifar", shortcut=shortcut, stride_on_1x1=stride_on_1x1, num_classes=num_classes, **kw)


@register("cifar", P("2016 Table 4", params=10.2e6, top1_err=4.92))
def preact_resnet1001(*, shortcut: Shortcut = "B", stride_on_1x1: bool = True, num_classes: int = 10, **kw) -> ResNet:
    """Pre-activation ResNet-1001 (bottleneck): 2016 Table 4, 10.2M params, 4.92 % error."""
    return ResNet(PreActBottleneck, (111, 111, 111), widths=CIFAR, stem="cifar", shortcut=shortcut, stride_on_1x1=stride_on_1x1, num_classes=num_classes, **kw)

"""The named variants, as data: for each, the units, the units per stage, the options with
their defaults, and what the paper prints for it; a comment above each gives the paper's row.

Sources: "2015" is He, Zhang, Ren, Sun, *Deep Residual Learning for Image Recognition*
(ImageNet errors are 10-crop on the validation set, Tables 2-3; CIFAR-10 errors are test
errors, Table 6). "2016" is He, Zhang, Ren, Sun, *Identity Mappings in Deep Residual
Networks* (CIFAR-10 errors from Tables 3-4; ImageNet from Table 5, single 320x320 crop).
"""

from __future__ import annotations

from functools import partial

from reslab.models.blocks import BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck
from reslab.models.registry import PaperFigures as P
from reslab.models.registry import register

imagenet = partial(register, "imagenet")  # 7x7/2 stem, max-pool, 64-128-256-512 filters
cifar = partial(register, "cifar")  # 3x3 stem, 16-32-64 filters (2015, Sec. 4.2)

# Each family's options, in the order errors list them, with the paper's values as defaults.
# A plain net fixes shortcut=None and has no shortcut option; a bottleneck chooses where its
# downsampling stride goes: the first 1x1 ("v1", the paper) or the 3x3 (torchvision's "v1.5").
COMMON = {"in_chans": 3, "zero_init_residual": False}
IMAGENET = {"shortcut": "B", "stride_on_1x1": True, "num_classes": 1000, **COMMON}  # Table 3
IMAGENET_PLAIN = {"num_classes": 1000, **COMMON}
CIFAR = {"shortcut": "A", "num_classes": 10, **COMMON}  # option A (Sec. 4.2)
CIFAR_PLAIN = {"num_classes": 10, **COMMON}
# Pre-activation (2016, Fig. 4e): projections where the shape changes, as in the authors' code.
CIFAR_PREACT = {"shortcut": "B", "num_classes": 10, **COMMON}
CIFAR_PREACT_BOTTLENECK = {"shortcut": "B", "stride_on_1x1": True, "num_classes": 10, **COMMON}

# --- ImageNet, 2015 (Table 1). Default shortcut "B" as in Table 3; stride on the 1x1 ("v1").

# ResNet-18: Table 1, 1.8 GFLOPs. Table 2's 27.88 % top-1 is ResNet-18 with option A; the
# paper prints no error for the default option B, so none is quoted (issue 17).
imagenet(
    "resnet18",
    BasicBlock,
    (2, 2, 2, 2),
    IMAGENET,
    P("2015 Table 1 (Table 2: 27.88 % top-1 with option A)", macs=1.8e9),
)
# ResNet-34: Table 1, 3.6 GFLOPs; Table 3 row 34 B, 24.52 / 7.46 % top-1 / top-5.
imagenet(
    "resnet34",
    BasicBlock,
    (3, 4, 6, 3),
    IMAGENET,
    P("2015 Table 1; Table 3 (option B)", macs=3.6e9, top1_err=24.52, top5_err=7.46),
)
# ResNet-50: Table 1, 3.8 GFLOPs; Table 3, 22.85 / 6.71 % top-1 / top-5.
imagenet(
    "resnet50",
    Bottleneck,
    (3, 4, 6, 3),
    IMAGENET,
    P("2015 Table 1; Table 3", macs=3.8e9, top1_err=22.85, top5_err=6.71),
)
# ResNet-101: Table 1, 7.6 GFLOPs; Table 3, 21.75 / 6.05 % top-1 / top-5.
imagenet(
    "resnet101",
    Bottleneck,
    (3, 4, 23, 3),
    IMAGENET,
    P("2015 Table 1; Table 3", macs=7.6e9, top1_err=21.75, top5_err=6.05),
)
# ResNet-152: Table 1, 11.3 GFLOPs; Table 3, 21.43 / 5.71 % top-1 / top-5.
imagenet(
    "resnet152",
    Bottleneck,
    (3, 8, 36, 3),
    IMAGENET,
    P("2015 Table 1; Table 3", macs=11.3e9, top1_err=21.43, top5_err=5.71),
)
# Plain-18: Table 2, 27.94 % top-1.
imagenet(
    "plain18",
    BasicBlock,
    (2, 2, 2, 2),
    IMAGENET_PLAIN,
    P("2015 Table 1; Table 2", macs=1.8e9, top1_err=27.94),
    shortcut=None,
)
# Plain-34: Table 2, 28.54 % top-1 (higher than plain-18: the degradation problem).
imagenet(
    "plain34",
    BasicBlock,
    (3, 4, 6, 3),
    IMAGENET_PLAIN,
    P("2015 Table 1; Table 2", macs=3.6e9, top1_err=28.54),
    shortcut=None,
)

# --- CIFAR, 2015 (Sec. 4.2): 6n+2 layers, {16, 32, 64} filters, option A.

# ResNet-20: Table 6, 0.27M params, 8.75 % error.
cifar("resnet20", BasicBlock, (3, 3, 3), CIFAR, P("2015 Table 6", params=0.27e6, top1_err=8.75))
# ResNet-32: Table 6, 0.46M params, 7.51 % error.
cifar("resnet32", BasicBlock, (5, 5, 5), CIFAR, P("2015 Table 6", params=0.46e6, top1_err=7.51))
# ResNet-44: Table 6, 0.66M params, 7.17 % error.
cifar("resnet44", BasicBlock, (7, 7, 7), CIFAR, P("2015 Table 6", params=0.66e6, top1_err=7.17))
# ResNet-56: Table 6, 0.85M params, 6.97 % error.
cifar("resnet56", BasicBlock, (9, 9, 9), CIFAR, P("2015 Table 6", params=0.85e6, top1_err=6.97))
# ResNet-110: Table 6, 1.7M params, 6.43 % error (best of 5 runs; 6.61 +- 0.16).
cifar(
    "resnet110",
    BasicBlock,
    (18, 18, 18),
    CIFAR,
    P("2015 Table 6 (best of 5; mean 6.61 +- 0.16)", params=1.7e6, top1_err=6.43),
)
# ResNet-1202: Table 6, 19.4M params, 7.93 % error (overfits, Sec. 4.2).
cifar(
    "resnet1202",
    BasicBlock,
    (200, 200, 200),
    CIFAR,
    P("2015 Table 6", params=19.4e6, top1_err=7.93),
)
# Plain-20, -32, -44, -56: Fig. 6 left (plain-56 trains to a higher error than plain-20).
cifar("plain20", BasicBlock, (3, 3, 3), CIFAR_PLAIN, P("2015 Fig. 6 (curves only)"), shortcut=None)
cifar("plain32", BasicBlock, (5, 5, 5), CIFAR_PLAIN, P("2015 Fig. 6 (curves only)"), shortcut=None)
cifar("plain44", BasicBlock, (7, 7, 7), CIFAR_PLAIN, P("2015 Fig. 6 (curves only)"), shortcut=None)
cifar("plain56", BasicBlock, (9, 9, 9), CIFAR_PLAIN, P("2015 Fig. 6 (curves only)"), shortcut=None)
# Plain-110: Sec. 4.2, error above 60 % (the paper does not plot it).
cifar(
    "plain110",
    BasicBlock,
    (18, 18, 18),
    CIFAR_PLAIN,
    P("2015 Sec. 4.2 (> 60 % error, did not converge)"),
    shortcut=None,
)

# --- Pre-activation, 2016 (Fig. 4e). Projection shortcuts where the shape changes, as in
# the authors' code; the ImageNet family keeps the 2015 stem.

# Pre-activation ResNet-18, -34, -50, -101: no figures in the 2016 paper.
imagenet("preact_resnet18", PreActBasicBlock, (2, 2, 2, 2), IMAGENET)
imagenet("preact_resnet34", PreActBasicBlock, (3, 4, 6, 3), IMAGENET)
imagenet("preact_resnet50", PreActBottleneck, (3, 4, 6, 3), IMAGENET)
imagenet("preact_resnet101", PreActBottleneck, (3, 4, 23, 3), IMAGENET)
# Pre-activation ResNet-152: 2016 Table 5, 21.1 / 5.5 % top-1 / top-5 (320 crop).
imagenet(
    "preact_resnet152",
    PreActBottleneck,
    (3, 8, 36, 3),
    IMAGENET,
    P("2016 Table 5 (single 320x320 crop)", top1_err=21.1, top5_err=5.5),
)
# Pre-activation ResNet-20 and -56: no figures in the 2016 paper.
cifar("preact_resnet20", PreActBasicBlock, (3, 3, 3), CIFAR_PREACT)
cifar("preact_resnet56", PreActBasicBlock, (9, 9, 9), CIFAR_PREACT)
# Pre-activation ResNet-110: 2016 Table 3, 6.37 % error.
cifar(
    "preact_resnet110",
    PreActBasicBlock,
    (18, 18, 18),
    CIFAR_PREACT,
    P("2016 Table 3", params=1.7e6, top1_err=6.37),
)
# Pre-activation ResNet-164 (9n+2, bottleneck): 2016 Tables 3-4, 5.46 % error; 1.7M params.
cifar(
    "preact_resnet164",
    PreActBottleneck,
    (18, 18, 18),
    CIFAR_PREACT_BOTTLENECK,
    P("2016 Tables 3-4 (params: Table 4)", params=1.7e6, top1_err=5.46),
)
# Pre-activation ResNet-1001 (bottleneck): 2016 Table 4, 10.2M params, 4.92 % error.
cifar(
    "preact_resnet1001",
    PreActBottleneck,
    (111, 111, 111),
    CIFAR_PREACT_BOTTLENECK,
    P("2016 Table 4", params=10.2e6, top1_err=4.92),
)

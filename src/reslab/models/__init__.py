"""Plain, residual and pre-activation networks of He et al. 2015 and 2016."""

from reslab.models.blocks import (
    BasicBlock,
    Bottleneck,
    PreActBasicBlock,
    PreActBottleneck,
    ZeroPadShortcut,
)
from reslab.models.features import FeatureInfo, ResNetFeatures
from reslab.models.profile import complexity, count_macs, count_params, describe
from reslab.models.registry import (
    PaperFigures,
    create_model,
    get_entry,
    list_models,
    model_from_checkpoint,
    register,
)
from reslab.models.resnet import ResNet
from reslab.models.weights import load_torchvision, save_torchvision

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "FeatureInfo",
    "PaperFigures",
    "PreActBasicBlock",
    "PreActBottleneck",
    "ResNet",
    "ResNetFeatures",
    "ZeroPadShortcut",
    "complexity",
    "count_macs",
    "count_params",
    "create_model",
    "describe",
    "get_entry",
    "list_models",
    "load_torchvision",
    "model_from_checkpoint",
    "register",
    "save_torchvision",
]

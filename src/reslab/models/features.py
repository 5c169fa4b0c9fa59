"""ResNets as backbones: the stage outputs, with their channels and strides.

``create_model(name, features_only=True, out_indices=(1, 2, 3, 4))`` follows timm's
convention: index 0 is the stem's output, index ``i`` the output of stage ``i`` (C2-C5 of
an ImageNet net, whose strides are 4, 8, 16, 32; a CIFAR net's three stages have strides 1,
2, 4). The forward returns the selected outputs as a list, and ``feature_info`` holds
``num_chs``, ``reduction`` and ``module`` for each (timm's keys and methods). The modules
keep their classifier's names (``conv1``, ``bn1``, ``layer1``, ...; ``fc`` and the pool are
gone), so weights load as they do into the classifier, and the children run in forward
order, so torchvision's ``IntermediateLayerGetter`` (hence ``BackboneWithFPN``) can take the
module as it is (see docs/backbones.md).

In a pre-activation net a stage's output is the unactivated sum of its last unit; the
network's last stage is taken after ``final_bn`` and ReLU, as the classifier reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from reslab.errors import OptionError
from reslab.models.resnet import ResNet


class FeatureInfo:
    """timm's ``feature_info``: one ``{"num_chs", "reduction", "module"}`` per output."""

    def __init__(self, info: list[dict[str, Any]]) -> None:
        self.info = info

    def channels(self) -> list[int]:
        return [i["num_chs"] for i in self.info]

    def reduction(self) -> list[int]:
        return [i["reduction"] for i in self.info]

    def module_name(self) -> list[str]:
        return [i["module"] for i in self.info]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.info[i]

    def __len__(self) -> int:
        return len(self.info)

    def __repr__(self) -> str:
        return f"FeatureInfo({self.info})"


class ResNetFeatures(nn.Module):
    """A :class:`ResNet` without its head, returning ``out_indices``' outputs (a list)."""

    def __init__(self, net: ResNet, out_indices: Sequence[int]) -> None:
        super().__init__()
        n = len(net.stage_names)
        out = tuple(out_indices)
        if not out or any(not isinstance(i, int) or not 0 <= i <= n for i in out):
            raise OptionError(
                f"out_indices must be a non-empty sequence of 0 (stem) .. {n} (last stage) "
                f"for this {n}-stage network; got {out_indices!r}"
            )
        if list(out) != sorted(set(out)):
            raise OptionError(f"out_indices must be increasing; got {out_indices!r}")
        self.out_indices = out
        for name in ("conv1", "bn1", "relu", "maxpool"):
            self.add_module(name, getattr(net, name))
        self.stage_names = net.stage_names[: max(out)]
        for name in self.stage_names:
            self.add_module(name, getattr(net, name))
        last_is_final = max(out) == n and net.final_bn is not None
        self.final_bn = net.final_bn if last_is_final else None
        self.feature_info = FeatureInfo(_info(net, out))

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        outs = [x] if 0 in self.out_indices else []  # timm's index 0: before the max-pool
        x = self.maxpool(x)
        for i, name in enumerate(self.stage_names, start=1):
            x = getattr(self, name)(x)
            if i == len(self.stage_names) and self.final_bn is not None:
                x = torch.relu(self.final_bn(x))
            if i in self.out_indices:
                outs.append(x)
        return outs


def _info(net: ResNet, out_indices: tuple[int, ...]) -> list[dict[str, Any]]:
    stem = 2 if net.stem == "imagenet" else 1  # the 7x7/2 conv; the 3x3/2 max-pool follows
    reduction = stem * (2 if net.stem == "imagenet" else 1)
    info = [{"num_chs": net.widths[0], "reduction": stem, "module": "relu"}]
    for i, (name, width) in enumerate(zip(net.stage_names, net.widths, strict=True)):
        reduction *= 1 if i == 0 else 2
        info.append(
            {"num_chs": width * net.block.expansion, "reduction": reduction, "module": name}
        )
    return [info[i] for i in out_indices]


__all__ = ["FeatureInfo", "ResNetFeatures"]

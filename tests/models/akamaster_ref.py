"""A CIFAR ResNet written to the description of akamaster/pytorch_resnet_cifar10's layout
(not its code), and weights saved as its trainer saves them: the reference that reslab's
conversion must reproduce.

Layout: stem ``conv1`` (3x3, 16) + ``bn1`` + ReLU; three stages ``layer1..3`` of basic units
(``conv1``, ``bn1``, ``conv2``, ``bn2``, post-activation); where a unit changes shape, its
option-A shortcut subsamples by 2 (``x[:, :, ::2, ::2]``) and zero-pads ``planes // 4``
channels *before and after* the input's; global average pool; classifier ``linear``. Files:
``{"state_dict": {"module." + name: tensor}, "best_prec1": float}`` (DataParallel's prefix).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TwoSidedPad(nn.Module):
    def __init__(self, planes: int) -> None:
        super().__init__()
        self.each_side = planes // 4

    def forward(self, x: Tensor) -> Tensor:
        p = self.each_side
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))


class Unit(nn.Module):
    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        reshapes = stride != 1 or c_in != planes
        self.shortcut = TwoSidedPad(planes) if reshapes else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + self.shortcut(x))


class Net(nn.Module):
    def __init__(self, n: int, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        c = 16
        for s, planes in enumerate((16, 32, 64), start=1):
            units = [
                Unit(c if i == 0 else planes, planes, (1 if s == 1 else 2) if i == 0 else 1)
                for i in range(n)
            ]
            setattr(self, f"layer{s}", nn.Sequential(*units))
            c = planes
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(x.mean((2, 3)))


@torch.no_grad()
def trained_like(n: int = 3, seed: int = 0) -> Net:
    """A reference net with random BN statistics and affine parameters, in eval mode (so
    that a wrong channel order shows in every BN, not only in the convs)."""
    g = torch.Generator().manual_seed(seed)
    net = Net(n)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.copy_(1 + 0.3 * torch.randn(c, generator=g))
            m.bias.copy_(0.2 * torch.randn(c, generator=g))
            m.running_mean.copy_(0.3 * torch.randn(c, generator=g))
            m.running_var.copy_(0.5 + torch.rand(c, generator=g))
    return net.eval()


def save_like_akamaster(net: Net, path: Path) -> Path:
    """Save as its trainer.py does: DataParallel's keys in a dict with best_prec1."""
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "best_prec1": 91.73}, path)
    return path

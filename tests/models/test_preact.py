"""The pre-activation first unit (He et al. 2016, Appendix: "the first activation right
after conv1 and before splitting into two paths"), checked on the function, not the shapes:
the stem ends with BN-ReLU, and both paths of the first unit read that activated signal."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reslab.models import create_model, get_entry


def _trained_like(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.3 * torch.randn(m.num_features, generator=g))
    return model.eval()


def _inputs_of(module: nn.Module, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = module.register_forward_pre_hook(lambda _, args: seen.append(args[0].clone()))
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize(
    "name", ["preact_resnet20", "preact_resnet164", "preact_resnet18", "preact_resnet50"]
)
def test_both_paths_of_the_first_unit_read_the_activated_stem(name: str) -> None:
    model = _trained_like(create_model(name))
    size = 32 if get_entry(name).family == "cifar" else 64
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        stem = model.maxpool(torch.relu(model.bn1(model.conv1(x))))
    unit = model.layer1[0]
    assert unit.bn1 is None  # the stem's BN-ReLU is its pre-activation
    torch.testing.assert_close(_inputs_of(unit, model, x), stem)
    torch.testing.assert_close(_inputs_of(unit.conv1, model, x), stem)  # no second BN-ReLU
    with torch.no_grad():
        shortcut = stem if unit.downsample is None else unit.downsample(stem)
        residual = unit(stem) - shortcut  # what the residual branch added
        assert (stem >= 0).all() and (stem == 0).any()  # activated: ReLU'd, not raw conv
        if unit.downsample is None:  # the identity path carries the activated signal
            torch.testing.assert_close(unit(stem) - residual, stem)


def test_later_units_keep_their_own_pre_activation() -> None:
    model = create_model("preact_resnet20")
    units = [u for stage in model.stages for u in stage]
    assert units[0].bn1 is None
    assert all(isinstance(u.bn1, nn.BatchNorm2d) for u in units[1:])


@pytest.mark.parametrize(
    ("name", "params"),
    # CIFAR: the stem's BN(16) replaces the first unit's BN(16): the counts of before the
    # fix, and within 2.5 % of the 2016 paper's (Table 3: 1.7M for 110 and 164 layers).
    [
        ("preact_resnet20", 272_282),
        ("preact_resnet110", 1_730_522),
        ("preact_resnet164", 1_703_258),
        # ImageNet: the stem's BN-ReLU was applied twice; the first unit's BN(64) is gone.
        ("preact_resnet18", 11_687_720),
        ("preact_resnet50", 25_549_352),
    ],
)
def test_parameter_counts(name: str, params: int) -> None:
    assert sum(p.numel() for p in create_model(name).parameters()) == params


def test_state_dict_names() -> None:
    keys = create_model("preact_resnet20").state_dict().keys()
    assert {
        "conv1.weight",
        "bn1.weight",
        "layer1.0.conv1.weight",
        "layer1.0.bn2.weight",
        "layer1.1.bn1.weight",
        "final_bn.weight",
        "fc.weight",
    } <= keys
    assert not any(k.startswith("layer1.0.bn1.") for k in keys)

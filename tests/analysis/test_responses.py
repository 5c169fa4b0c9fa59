"""Layer responses (Fig. 7): which layers are hooked, and that the streamed std is exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from reslab.analysis.responses import compute_and_save_responses, layer_responses, response_layers
from reslab.analysis.runs import read_run
from reslab.checkpoint import FORMAT, VERSION, save_atomic
from reslab.errors import DataError, OptionError
from reslab.models import create_model

from .rundirs import write_run


def _batches(n: int = 3, size: int = 8, hw: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        (torch.randn(size, 3, hw, hw, generator=g), torch.zeros(size, dtype=torch.long))
        for _ in range(n)
    ]


def _trained_bn(model: nn.Module) -> nn.Module:
    """Give the BNs non-trivial running statistics and affine parameters."""
    model.train()
    with torch.no_grad():
        for x, _ in _batches(2):
            model(x * 2 + 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.2, 2.0)
                m.bias.uniform_(-1.0, 1.0)
    return model


@pytest.mark.parametrize(
    ("model", "count"),
    [("resnet20", 19), ("plain20", 19), ("resnet56", 55), ("resnet50", 16)],  # 50: middle 3x3s
)
def test_every_3x3_layer_is_hooked_once(model: str, count: int) -> None:
    names = [name for name, _ in response_layers(create_model(model))]
    assert len(names) == count == len(set(names))
    if model.startswith(("resnet2", "plain")):
        assert names[:3] == ["conv1", "layer1.0.conv1", "layer1.0.conv2"]  # the CIFAR stem first


def test_torchvision_models_work_too() -> None:
    names = [name for name, _ in response_layers(torchvision.models.resnet18())]
    assert len(names) == 16 and "conv1" not in names  # the 7x7 stem is not a 3x3 layer


@pytest.mark.parametrize(
    "layer",
    ["layer1.0.conv1", "layer2.0.conv2"],  # BN then in-place ReLU; BN then the addition
)
def test_std_matches_a_direct_computation(layer: str) -> None:
    model = _trained_bn(create_model("resnet20"))
    batches = _batches()
    captured = []
    bn = model.get_submodule(layer.replace("conv", "bn"))
    hook = bn.register_forward_hook(lambda m, i, out: captured.append(out.detach().clone()))
    stds = layer_responses(model, batches)
    hook.remove()
    assert stds.shape == (19,) and np.all(stds > 0)
    full = torch.cat(captured).double()  # (N, C, H, W): the whole "test set" at once
    direct = full.transpose(0, 1).flatten(1).std(dim=1, unbiased=False).mean()
    index = [name for name, _ in response_layers(model)].index(layer)
    assert stds[index] == pytest.approx(float(direct), rel=1e-9)


def test_model_mode_is_restored() -> None:
    model = create_model("plain20").train()
    layer_responses(model, _batches(1))
    assert model.training


def test_pre_activation_nets_are_refused() -> None:
    with pytest.raises(OptionError, match="post-activation"):
        layer_responses(create_model("preact_resnet20"), _batches(1))


def test_no_batches_is_an_error() -> None:
    with pytest.raises(DataError, match="no batches"):
        layer_responses(create_model("resnet20"), [])


def test_compute_and_save_responses(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", model="resnet20")
    model = _trained_bn(create_model("resnet20"))
    save_atomic(
        {
            "format": FORMAT,
            "version": VERSION,
            "model": {"name": "resnet20", "options": {}},
            "classes": list("abcdefghij"),
            "normalization": {},
            "input_size": 32,
            "state_dict": model.state_dict(),
            "config": {},
            "iteration": 123,
        },
        run_dir / "checkpoints" / "latest.pt",
    )
    batches = _batches()
    stds = compute_and_save_responses(run_dir, batches)
    saved = json.loads((run_dir / "responses.json").read_text())
    assert saved["images"] == 24 and saved["iteration"] == 123
    assert saved["layers"][0] == "conv1" and len(saved["layers"]) == 19
    np.testing.assert_allclose(read_run(run_dir).layer_stds, stds)
    np.testing.assert_allclose(stds, layer_responses(model, batches), rtol=1e-6)

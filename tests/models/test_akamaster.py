"""akamaster/pytorch_resnet_cifar10 weights: recognised from their keys and converted so
that reslab computes exactly their function (fp64), refused where they do not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reslab.errors import CheckpointError
from reslab.models import create_model
from reslab.models.weights import bare_state_dict, detect_layout

from .akamaster_ref import save_like_akamaster, trained_like


def _logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.double().eval()(x)


@pytest.mark.parametrize(("name", "n"), [("resnet20", 3), ("resnet32", 5)])
def test_converted_weights_compute_the_reference_function(
    tmp_path: Path, name: str, n: int
) -> None:
    ref = trained_like(n)
    path = save_like_akamaster(ref, tmp_path / f"{name}-12fca82f.th")
    ours = create_model(name, weights=path)
    assert ours.shortcut == "A" and ours.fc.out_features == 10
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(_logits(ours, x), _logits(ref, x), atol=1e-10, rtol=0)


def test_names_only_mapping_would_be_silently_wrong(tmp_path: Path) -> None:
    """Why the relabelling exists: the same tensors under reslab's names load strictly
    and compute another function."""
    ref = trained_like(3)
    renamed = {k.replace("linear.", "fc."): v for k, v in ref.state_dict().items()}
    naive = create_model("resnet20")
    naive.load_state_dict(renamed, strict=True)
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    assert (_logits(naive, x) - _logits(ref, x)).abs().max() > 1e-2


def test_layout_is_recognised_from_the_keys(tmp_path: Path) -> None:
    path = save_like_akamaster(trained_like(3), tmp_path / "w.th")
    sd = bare_state_dict(torch.load(path, weights_only=True), "w.th")
    assert detect_layout(sd) == "akamaster"
    assert detect_layout(create_model("resnet18").state_dict()) == "torchvision"
    assert detect_layout({"conv1.weight": torch.zeros(1)}) is None


def test_weights_of_another_depth_or_option_are_named(tmp_path: Path) -> None:
    path = save_like_akamaster(trained_like(3), tmp_path / "w.th")
    with pytest.raises(
        CheckpointError,
        match=r"holds akamaster/pytorch_resnet_cifar10's "
        r"resnet20, not the requested resnet56",
    ):
        create_model("resnet56", weights=path)
    with pytest.raises(
        CheckpointError,
        match=r"resnet20\(shortcut='A'\).*not the requested "
        r"resnet20\(shortcut='B'\)",
    ):
        create_model("resnet20", weights=path, shortcut="B")


def test_unknown_layout_lists_the_layouts_reslab_reads(tmp_path: Path) -> None:
    path = tmp_path / "mystery.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(
        CheckpointError,
        match=r"mystery\.pth: not a reslab checkpoint, .* no layout reslab reads; it reads a "
        r"reslab checkpoint; a torchvision ImageNet ResNet .*; akamaster/pytorch_resnet_cifar10",
    ):
        create_model("resnet20", weights=path)

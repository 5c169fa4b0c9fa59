"""ImageNet-family state dicts are torchvision's: weights load both ways, same outputs."""

from __future__ import annotations

import pytest
import torch
import torchvision

from reslab.models import create_model


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_weights_load_both_ways_with_the_same_outputs(name: str) -> None:
    ours = create_model(name, shortcut="B", stride_on_1x1=False).eval()
    theirs = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)

    ours.load_state_dict(theirs.state_dict(), strict=True)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=0)

    fresh = create_model(name, shortcut="B", stride_on_1x1=False).eval()
    theirs.load_state_dict(fresh.state_dict(), strict=True)
    torch.testing.assert_close(theirs(x), fresh(x), atol=1e-5, rtol=0)


def test_v1_differs_from_torchvision_only_in_stride_placement() -> None:
    v1 = create_model("resnet50")  # the paper: stride on the first 1x1
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    v15 = create_model("resnet50", stride_on_1x1=False)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    assert v1.state_dict().keys() == v15.state_dict().keys()

"""BatchNorm folding: which BN layers fold into their convolution, and that the function stays."""

from __future__ import annotations

import pytest
import torch

from reslab.checkpoint import load_checkpoint
from reslab.models import model_from_checkpoint
from reslab.models.fold import batchnorm_names, fold_batchnorm


@pytest.mark.parametrize(
    ("name", "folded", "left"),
    # preact_resnet20: the stem BN and every unit's bn2 follow a conv; the first unit has
    # no bn1 (the stem's BN-ReLU pre-activates it), the other 8 units' bn1 and final_bn stay.
    [("resnet20", 19, []), ("plain20", 19, []), ("preact_resnet20", 10, 9)],
)
def test_fold_batchnorm(make_checkpoint, name: str, folded: int, left) -> None:
    model = model_from_checkpoint(load_checkpoint(make_checkpoint(name))).eval()
    fused = fold_batchnorm(model)
    remaining = batchnorm_names(fused)
    assert len(batchnorm_names(model)) - len(remaining) == folded
    if left:  # pre-activation: each unit's first BN and the final BN read no conv alone
        assert len(remaining) == left and "final_bn" in remaining
        assert all(n == "final_bn" or n.endswith(".bn1") for n in remaining)
    else:
        assert remaining == []
    assert len(batchnorm_names(model)) == 19  # the original is untouched
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), atol=1e-5, rtol=0)

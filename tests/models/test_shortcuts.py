"""The shortcut options of Sec. 3.3 and the plain networks."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.fx

from reslab.models import ZeroPadShortcut, complexity, create_model
from reslab.models.blocks import BasicBlock


def _projections(model: torch.nn.Module) -> int:
    units = [m for m in model.modules() if isinstance(m, BasicBlock)]
    return sum(isinstance(u.downsample, torch.nn.Sequential) for u in units)


def test_option_a_adds_no_parameters() -> None:
    assert complexity("resnet20").params == complexity("plain20").params
    model = create_model("resnet20")
    pads = [m for m in model.modules() if isinstance(m, ZeroPadShortcut)]
    assert len(pads) == 2  # the first unit of stages 2 and 3
    assert _projections(model) == 0


def test_option_a_subsamples_then_zero_pads_new_channels() -> None:
    x = torch.randn(2, 16, 32, 32)
    y = ZeroPadShortcut(stride=2, extra_channels=16)(x)
    assert y.shape == (2, 32, 16, 16)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert (y[:, 16:] == 0).all()


def test_option_b_projects_only_where_the_shape_changes() -> None:
    model = create_model("resnet34", shortcut="B")
    units = [u for stage in model.stages for u in stage]
    projected = [u.downsample is not None for u in units]
    # stage 1 keeps 64 channels at stride 1; stages 2-4 change shape in their first unit
    assert projected == [False] * 3 + [True] + [False] * 3 + [True] + [False] * 5 + [
        True,
        False,
        False,
    ]
    assert _projections(create_model("resnet20", shortcut="B")) == 2


def test_option_c_projects_in_every_unit() -> None:
    model = create_model("resnet20", shortcut="C")
    units = [u for stage in model.stages for u in stage]
    assert all(isinstance(u.downsample, torch.nn.Sequential) for u in units)
    assert complexity("resnet20", shortcut="C").params > complexity("resnet20", shortcut="B").params


def _additions(model: torch.nn.Module) -> int:
    graph = torch.fx.symbolic_trace(model).graph
    adds = {operator.add, operator.iadd, torch.add}
    return sum(n.op == "call_function" and n.target in adds for n in graph.nodes)


@pytest.mark.parametrize(("name", "units"), [("plain20", 0), ("resnet20", 9), ("plain34", 0)])
def test_plain_nets_perform_no_additions(name: str, units: int) -> None:
    assert _additions(create_model(name)) == units


def test_plain_and_residual_twins_share_every_weight_name() -> None:
    plain, res = create_model("plain56").state_dict(), create_model("resnet56").state_dict()
    assert plain.keys() == res.keys()


def test_residual_unit_adds_its_input() -> None:
    """With the residual branch zeroed, an identity unit outputs relu(input)."""
    unit = create_model("resnet20", zero_init_residual=True).layer1[0].eval()
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(unit(x), torch.relu(x))

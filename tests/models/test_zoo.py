"""The model zoo against the paper's golden figures, and every model's basic contract."""

from __future__ import annotations

import pytest
import torch

from reslab.models import complexity, create_model, get_entry, list_models

# Exact parameter counts (CIFAR with 10 classes, ImageNet with 1000, default shortcut).
PARAMS = {
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
    "resnet1202": 19_421_274,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}

# Multiply-adds at the native input size.
MACS = {
    ("resnet20", True): 40.55e6,
    ("resnet56", True): 125.49e6,
    ("resnet110", True): 252.89e6,
    ("resnet18", True): 1.814e9,
    ("resnet34", True): 3.664e9,
    ("resnet50", True): 3.858e9,
    ("resnet101", True): 7.570e9,
    ("resnet152", True): 11.282e9,
    ("resnet50", False): 4.089e9,
}

ALL = list_models()
HEAVY = {"resnet1202", "preact_resnet1001"}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name: str) -> None:
    assert complexity(name).params == PARAMS[name]


@pytest.mark.parametrize(("name", "v1"), MACS)
def test_multiply_adds(name: str, v1: bool) -> None:
    options = {"stride_on_1x1": v1} if get_entry(name).family == "imagenet" else {}
    macs = complexity(name, **options).macs
    assert macs == pytest.approx(MACS[name, v1], rel=0.005)


@pytest.mark.parametrize("name", ALL)
def test_paper_figures_match_ours(name: str) -> None:
    """Where the paper prints a parameter or multiply-add count, ours rounds to it."""
    paper, ours = get_entry(name).paper, complexity(name)
    if paper is not None and paper.params is not None:
        assert ours.params == pytest.approx(paper.params, rel=0.025)
    if paper is not None and paper.macs is not None:
        assert ours.macs == pytest.approx(paper.macs, rel=0.025)


@pytest.mark.parametrize("name", ALL)
def test_depth_is_in_the_name(name: str) -> None:
    depth = int("".join(ch for ch in name if ch.isdigit()))
    if name not in HEAVY:
        assert create_model(name).depth == depth


@pytest.mark.parametrize("name", ALL)
def test_forward_backward(name: str) -> None:
    entry = get_entry(name)
    size = 32 if entry.family == "cifar" else 64  # any size works; keep ImageNet nets cheap
    model = create_model(name, num_classes=7)
    x = torch.randn(2, 3, size, size)
    out = model(x)
    assert out.shape == (2, 7)
    out.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", ["resnet20", "plain20", "preact_resnet164", "resnet50"])
def test_channels_last_gives_the_same_outputs(name: str) -> None:
    model = create_model(name).eval()
    x = torch.randn(2, 3, 32, 32)
    ref = model(x)
    model = model.to(memory_format=torch.channels_last)
    out = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["resnet20", "preact_resnet20", "resnet18", "preact_resnet50"])
def test_torch_export(name: str) -> None:
    """One model of each family exports to an ExportedProgram that computes the same."""
    model = create_model(name).eval()
    x = torch.randn(2, 3, 32, 32)
    program = torch.export.export(model, (x,))
    torch.testing.assert_close(program.module()(x), model(x))


def test_grayscale_input() -> None:
    model = create_model("resnet20", in_chans=1)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_zero_init_residual_makes_units_start_as_identity() -> None:
    model = create_model("resnet20", zero_init_residual=True)
    assert all((unit.bn2.weight == 0).all() for stage in model.stages for unit in stage)
    pre = create_model("preact_resnet164", zero_init_residual=True)
    assert all((unit.conv3.weight == 0).all() for stage in pre.stages for unit in stage)


def test_initialisation_follows_the_paper() -> None:
    model = create_model("resnet56")
    conv = model.layer2[1].conv1  # 3x3, 32 -> 32: He normal, std sqrt(2 / fan_out)
    std = (2 / (3 * 3 * 32)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(std, rel=0.1)
    assert (model.layer2[1].bn1.weight == 1).all()
    assert (model.layer2[1].bn1.bias == 0).all()


def test_quoted_figures_belong_to_the_default_model() -> None:
    """Issue 17: Table 2's 27.88 % is ResNet-18 with option A, not the default B; ResNet-1001's
    4.92 % and 10.2M are in the 2016 paper's Table 4 only."""
    r18 = get_entry("resnet18")
    assert r18.defaults["shortcut"] == "B" and r18.paper.top1_err is None
    assert "option A" in r18.paper.source
    assert get_entry("preact_resnet1001").paper.source == "2016 Table 4"

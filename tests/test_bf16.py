"""The emulated bf16 autocast: bf16 units' arithmetic (bf16 operands, fp32 accumulation,
results rounded once) computed in fp32, forward and backward, and where reslab uses it."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from reslab import bf16
from reslab.bf16 import EmulatedAutocast
from reslab.device import autocast
from reslab.models import create_model

CPU = torch.device("cpu")


def rounded(t: Tensor) -> Tensor:
    return t.to(torch.bfloat16).to(t.dtype)


def representable(t: Tensor) -> bool:
    return torch.equal(t, rounded(t))


def test_a_convolution_computes_what_bf16_units_compute_forward_and_backward() -> None:
    """Reference: fp64 on bf16-rounded operands, each result rounded to bf16 once (what an
    fp32-accumulating bf16 unit gives, up to the order of the sums)."""
    x, w = torch.randn(8, 16, 12, 12), torch.randn(32, 16, 3, 3) * 0.1
    grad = rounded(torch.randn(8, 32, 12, 12))
    x64, w64 = (rounded(t).double().requires_grad_() for t in (x, w))
    ref = F.conv2d(x64, w64, padding=1)
    ref.backward(grad.double())

    xe, we = x.clone().requires_grad_(), w.clone().requires_grad_()
    with EmulatedAutocast():
        out = F.conv2d(xe, we, padding=1)
    out.backward(grad)
    for got, want in ((out, ref), (xe.grad, x64.grad), (we.grad, w64.grad)):
        assert got.dtype == torch.float32 and representable(got)
        agree = (got == rounded(want.float())).float().mean().item()
        assert agree > 0.999, agree  # fp32 and fp64 sums may round a tie the other way


@pytest.mark.parametrize("name", ["resnet20", "plain20", "preact_resnet20", "resnet18"])
def test_every_activation_and_conv_gradient_is_bf16_and_the_state_stays_fp32(name) -> None:
    model = create_model(name, num_classes=10).train()
    acts: list[Tensor] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: acts.append(o))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.BatchNorm2d | torch.nn.Linear)
    ]
    x = torch.randn(4, 3, 32, 32)
    with EmulatedAutocast():
        logits = model(x)
    F.cross_entropy(logits.float(), torch.tensor([0, 1, 2, 3])).backward()
    for hook in hooks:
        hook.remove()
    assert acts and all(a.dtype == torch.float32 and representable(a) for a in acts)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert all(representable(m.weight.grad) for m in convs)  # bf16 grads, cast up to fp32
    assert all(v.dtype in (torch.float32, torch.int64) for v in model.state_dict().values())
    assert not representable(model.conv1.weight)  # the master weights are not rounded


def test_dtypes_follow_autocast_rules() -> None:
    x = torch.randn(16, 4)
    w = torch.nn.Parameter(torch.randn(3, 4))
    scale = torch.randn(3)  # an fp32 tensor: type promotion gives fp32
    with EmulatedAutocast():
        not_cast = torch.sigmoid(x)  # fp32 in, no autocast op: fp32 out
        y = F.linear(x, w)
        e = torch.exp(y)
        promoted = y * scale
        scaled = y * 0.5  # a Python scalar keeps bf16
        up = y.float()
        loss = F.mse_loss(y, torch.zeros_like(y))
        down_up = torch.exp(up)
        summed = y.clone()
        summed += e  # in place: rounded into the rebound tensor
    assert not representable(not_cast)
    assert representable(y) and representable(e) and representable(scaled)
    assert torch.equal(e, rounded(torch.exp(y)))
    assert torch.equal(promoted, y * scale)  # not rounded
    assert torch.equal(down_up, torch.exp(y)) and not representable(down_up)
    assert torch.equal(loss, F.mse_loss(y, torch.zeros_like(y)))  # computed in fp32
    assert torch.equal(summed, rounded(y + e))


def test_emulated_bf16_steps_track_fp32_steps() -> None:
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    losses = {}
    for emulate in (False, True):
        torch.manual_seed(0)
        model = create_model("resnet20")
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        run = []
        for _ in range(4):
            with EmulatedAutocast() if emulate else contextlib.nullcontext():
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses[emulate] = run
    fp32, emulated = losses[False], losses[True]
    assert fp32 != emulated  # the rounding happened
    assert all(abs(a - b) < 0.05 * a for a, b in zip(fp32, emulated, strict=True))
    assert emulated[-1] < emulated[0]


def test_bf16_is_emulated_on_a_cpu_without_bf16_units_only(no_bf16_units) -> None:
    assert bf16.emulated(CPU, "bf16") and isinstance(autocast(CPU, "bf16"), EmulatedAutocast)
    assert not bf16.emulated(CPU, "fp32") and not bf16.emulated(torch.device("cuda"), "bf16")
    assert not isinstance(autocast(CPU, "fp16"), EmulatedAutocast)


def test_with_bf16_units_autocast_is_torch_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bf16, "cpu_bf16_units", lambda: True)
    assert not bf16.emulated(CPU, "bf16")
    assert isinstance(autocast(CPU, "bf16"), torch.autocast)


def test_an_emulated_run_trains_eagerly(no_bf16_units, monkeypatch) -> None:
    from reslab.train import runtime
    from reslab.train.config import resolve

    monkeypatch.setattr(runtime, "compiler_works", lambda device_type: True)
    config = resolve("cifar-paper", sets=["run.precision=bf16", "model.compile=true"])
    config = replace(config, schedule=replace(config.schedule, iterations=64_000))
    with pytest.warns(Warning, match="emulates bf16"):
        resolved = runtime.resolve_runtime(config, CPU)
    assert resolved.run.precision == "bf16" and resolved.model.compile is False

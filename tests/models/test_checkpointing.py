"""Activation checkpointing changes memory and time, never the numbers."""

from __future__ import annotations

import copy

import pytest
import torch

from reslab.models import create_model


def _step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    model.train()
    logits = model(x)
    torch.nn.functional.cross_entropy(logits, y).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return logits.detach(), grads, {n: b.clone() for n, b in model.named_buffers()}


@pytest.mark.parametrize("name", ["resnet20", "preact_resnet20", "plain20"])
def test_outputs_gradients_and_bn_statistics_are_identical(name: str) -> None:
    plain = create_model(name)
    checkpointed = copy.deepcopy(plain)
    checkpointed.checkpoint_activations = True
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    logits, grads, buffers = _step(plain, x, y)
    logits_c, grads_c, buffers_c = _step(checkpointed, x, y)
    assert torch.equal(logits, logits_c)
    assert grads.keys() == grads_c.keys()
    for n in grads:
        assert torch.equal(grads[n], grads_c[n]), n
    # BN statistics move once per step, not again in the backward's recomputation.
    for n in buffers:
        assert torch.equal(buffers[n], buffers_c[n]), n
    assert int(buffers_c["layer1.0.bn2.num_batches_tracked"]) == 1


def test_checkpointing_is_skipped_without_gradients() -> None:
    model = create_model("resnet20").eval()
    model.checkpoint_activations = True
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    model.checkpoint_activations = False
    with torch.no_grad():
        assert torch.equal(out, model(x))


def test_checkpointing_under_torch_compile_updates_bn_statistics_once() -> None:
    plain = create_model("resnet20")
    checkpointed = copy.deepcopy(plain)
    checkpointed.checkpoint_activations = True
    compiled = torch.compile(checkpointed, backend="aot_eager")  # Dynamo + AOTAutograd
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    logits, grads, buffers = _step(plain, x, y)
    logits_c, _, _ = _step(compiled, x, y)
    grads_c = {n: p.grad for n, p in checkpointed.named_parameters()}
    buffers_c = dict(checkpointed.named_buffers())
    torch.testing.assert_close(logits_c, logits, atol=1e-5, rtol=1e-5)
    for n in grads:
        torch.testing.assert_close(grads_c[n], grads[n], atol=1e-4, rtol=1e-4)
    for n in buffers:  # moved once, as without checkpointing
        torch.testing.assert_close(buffers_c[n], buffers[n])

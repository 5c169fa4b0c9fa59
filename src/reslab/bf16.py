"""bf16 autocast on a CPU without bf16 matrix units: fp32 kernels on bf16-rounded values.

AMX-BF16 and AVX-512-BF16 multiply bf16 operands and accumulate the products in fp32
(exact: two 8-bit significands make at most 16 bits), and autocast rounds each result to
bf16 once. Without those units oneDNN falls back to a bf16 path that trained ResNet-20 at
0.07x of fp32 on a 2-core AVX2 CPU and whose backward convolutions round more than once:
60-72 % of their input and weight gradients differ from the once-rounded exact result
(results/bench/cpu-avx2/bf16-emulation.md, from benchmarks/bf16_emulation.py).

:class:`EmulatedAutocast` computes what the units compute, in fp32: the operands of
autocast's bf16 ops (convolutions, matmuls) are rounded to bf16, the fp32 result is rounded
once, and every other op that autocast would run on bf16 tensors has its result rounded
too, in the forward pass and, through :class:`_Round`, in the backward pass. Tensors stay
fp32 in memory; an attribute marks those that stand for bf16 ones. On that CPU 99.9 % of
a convolution's results equal the units' and ResNet-20 trains at 0.74x fp32 eager. It runs
eagerly only: under ``torch.compile`` its logits came out wrong (torch 2.14, off by up to
1.7 in that benchmark).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

_MARK = "_reslab_bf16"  # set on an fp32 tensor that stands for a bf16 one

# The ops of autocast's CPU bf16 list that models call: all floating operands are cast.
_CAST = {
    F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d,
    F.conv_transpose3d, F.linear, torch.conv2d, torch.matmul, torch.mm, torch.bmm,
    torch.addmm, torch.baddbmm, Tensor.matmul, Tensor.__matmul__,
}  # fmt: skip
# Ops that return bf16 for a bf16 input whatever the dtype of their fp32 parameters.
_NORMS = {F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm}
# Ops whose result autocast leaves in fp32: casts, and the losses of its CPU fp32 list.
_FP32 = {
    Tensor.float, Tensor.double, F.cross_entropy, F.nll_loss, F.mse_loss, F.l1_loss,
    F.smooth_l1_loss, F.huber_loss, F.kl_div, F.binary_cross_entropy,
    F.binary_cross_entropy_with_logits,
}  # fmt: skip
# Ops whose result is representable in bf16 when their input is: no rounding needed.
_EXACT = {
    F.relu, torch.relu, torch.relu_, Tensor.relu, Tensor.relu_, F.pad, F.max_pool2d,
    Tensor.__getitem__, torch.flatten, Tensor.flatten, Tensor.view, Tensor.reshape,
    torch.cat, Tensor.contiguous, Tensor.permute, Tensor.transpose, Tensor.clone,
    Tensor.to, Tensor.detach,
}  # fmt: skip


class _Round(torch.autograd.Function):
    """Round to bf16 in the forward pass and the gradient in the backward pass: the
    gradient of a bf16 tensor is a bf16 tensor."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.to(torch.bfloat16).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad.to(torch.bfloat16).to(grad.dtype)


def _is_fp32(t: Any) -> bool:
    return isinstance(t, Tensor) and t.dtype == torch.float32


def _marked(t: Any) -> bool:
    return _is_fp32(t) and getattr(t, _MARK, False)


def _operand(t: Any) -> Any:
    """An operand of a cast op: ``t`` rounded to bf16 unless it already stands for bf16."""
    return t if _marked(t) else _result(t)


def _result(t: Any, *, exact: bool = False) -> Any:
    """An op's fp32 result, rounded to bf16 (unless ``exact``) and marked: a new tensor, also
    for an in-place op's, whose values changed; anything but fp32 as it is."""
    if not _is_fp32(t):
        return t
    out = t if exact else _Round.apply(t)
    setattr(out, _MARK, True)
    return out


def _unmarked(t: Any) -> Any:
    """``t``, or an unmarked alias of it where it is marked."""
    return t.view_as(t) if _marked(t) else t


def _bf16_result(func: Any, args: tuple, kwargs: dict) -> bool:
    """Whether autocast would hand back bf16 here: an input is bf16, and type promotion
    does not pull the result up to fp32 (an fp32 tensor of one or more dimensions does,
    but not the parameters of a norm, and not a ``.to(dtype)`` cast)."""
    if func in _FP32:
        return False
    leaves = list(_leaves((args, kwargs)))
    if not any(_marked(t) for t in leaves):
        return False
    if any(isinstance(t, torch.dtype) for t in leaves):  # .to(torch.float32), .type(...)
        return False
    if func in _NORMS:
        return True
    return not any(_is_fp32(t) and not _marked(t) and t.dim() > 0 for t in leaves)


class EmulatedAutocast(TorchFunctionMode):
    """``torch.autocast("cpu", torch.bfloat16)`` computed in fp32 (module docstring).

    An in-place op's result is rounded into a new tensor: right for ``x += y`` (Python
    rebinds ``x``), not for ``x.add_(y)`` as a statement, which leaves ``x`` unrounded.
    reslab's models use neither on bf16 activations."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _CAST:
            args = tuple(_operand(a) for a in args)
            kwargs = {k: _operand(v) for k, v in kwargs.items()}
            return _map(_result, func(*args, **kwargs))
        bf16 = _bf16_result(func, args, kwargs)
        out = func(*args, **kwargs)
        if not bf16:  # an fp32 result; x.float() and x.to(torch.float32) return x itself
            return _map(_unmarked, out)
        return _map(functools.partial(_result, exact=func in _EXACT), out)


def _leaves(x: Any):
    """The items of nested tuples, lists and dicts (``torch.cat`` takes a list)."""
    if isinstance(x, tuple | list):
        for item in x:
            yield from _leaves(item)
    elif isinstance(x, dict):
        yield from _leaves(tuple(x.values()))
    else:
        yield x


def _map(fn: Any, out: Any) -> Any:
    """``fn`` over an op's result: a tensor, or a plain tuple or list of them (not a
    ``torch.Size`` or a named tuple)."""
    if type(out) in (tuple, list):
        return type(out)(fn(t) for t in out)
    return fn(out)


@functools.cache
def cpu_bf16_units() -> bool:
    """True when this CPU has bf16 matrix units and a bf16 matmul agrees with fp32."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    if not any(getattr(torch.cpu, name, lambda: False)() for name in probes):
        return False
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 64, generator=g), torch.randn(64, 64, generator=g)
    try:
        got = (a.bfloat16() @ b.bfloat16()).float()
    except RuntimeError:
        return False
    # bf16 keeps 8 significant bits: 64-term dot products of N(0, 1) agree to ~1 %.
    return bool(torch.allclose(got, a @ b, rtol=0.05, atol=0.5))


def emulated(device: torch.device, precision: str) -> bool:
    """Whether bf16 autocast on ``device`` is emulated (:class:`EmulatedAutocast`)."""
    return precision == "bf16" and device.type == "cpu" and not cpu_bf16_units()

"""bf16 on this CPU: torch's own autocast against reslab's emulation (reslab.bf16).

    OMP_NUM_THREADS=2 python benchmarks/bf16_emulation.py [--steps N]

Prints a markdown report:
1. agreement of a 3x3 convolution's output, input gradient and weight gradient with the
   arithmetic of bf16 units (fp64 on bf16-rounded operands, each result rounded once), for
   ``torch.autocast`` and for ``EmulatedAutocast``;
2. ResNet-20 training-step images/s (batch 128, synthetic input, channels_last) in fp32,
   torch's bf16 autocast and the emulation, eager; and whether the emulation gives the
   eager logits under ``torch.compile``.
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F

from reslab.bf16 import EmulatedAutocast, cpu_bf16_units
from reslab.models import create_model
from reslab.train.rundir import environment


def rounded(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).float()


def conv_agreement(ctx, native: bool) -> list[float]:
    """Shares of elements equal to the once-rounded exact result: output, dx, dW."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 16, 32, 32, generator=g)
    w = torch.randn(16, 16, 3, 3, generator=g) * 0.1
    grad = rounded(torch.randn(32, 16, 32, 32, generator=g))
    x64, w64 = (rounded(t).double().requires_grad_() for t in (x, w))
    ref = F.conv2d(x64, w64, padding=1)
    ref.backward(grad.double())
    xi = (x.bfloat16() if native else x).requires_grad_()
    wi = w.clone().requires_grad_()
    with ctx():
        out = F.conv2d(xi, wi, padding=1)
    out.backward(grad.to(out.dtype))
    pairs = ((out, ref), (xi.grad, x64.grad), (wi.grad, w64.grad))
    return [(got.float() == rounded(want.float())).float().mean().item() for got, want in pairs]


def step_rate(ctx, steps: int, compiled: bool = False) -> float:
    torch.manual_seed(0)
    model = create_model("resnet20").to(memory_format=torch.channels_last)
    run = torch.compile(model) if compiled else model
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(128, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))

    def step() -> None:
        with ctx():
            logits = run(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2 + 2 * compiled):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return 128 * steps / (time.perf_counter() - start)


def compiled_agrees() -> str:
    torch.manual_seed(0)
    model = create_model("resnet20").eval()
    x = torch.randn(16, 3, 32, 32)
    with torch.no_grad(), EmulatedAutocast():
        eager = model(x)
        compiled = torch.compile(model)(x)
    diff = (compiled - eager).abs().max().item()
    return f"max |compiled - eager| of the logits: {diff:.3g} (finite: {compiled.isfinite().all()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    env = environment(torch.device("cpu"), 1)
    native = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    print("# bf16 on this CPU: torch.autocast against reslab.bf16.EmulatedAutocast\n")
    print(
        f"{env['hardware']}, bf16 units: {cpu_bf16_units()}; torch {env['torch']}, "
        f"{torch.get_num_threads()} threads; {args.steps} timed steps after warm-up\n"
    )
    print("3x3 convolution (32x16x32x32): share of elements equal to bf16 units' result\n")
    print("| autocast | output | input gradient | weight gradient |\n| --- | --- | --- | --- |")
    for name, ctx, is_native in (("torch", native, True), ("emulated", EmulatedAutocast, False)):
        shares = conv_agreement(ctx, is_native)
        print(f"| {name} | " + " | ".join(f"{s:.4f}" for s in shares) + " |")
    print("\nResNet-20 training step, batch 128, images/s (eager)\n")
    print("| fp32 | bf16, torch.autocast | bf16, emulated |\n| --- | --- | --- |")
    fp32 = step_rate(contextlib.nullcontext, args.steps)
    torch_bf16 = step_rate(native, max(1, args.steps // 5))
    emulated = step_rate(EmulatedAutocast, args.steps)
    cells = [f"{r:,.0f} ({r / fp32:.2f}x)" for r in (fp32, torch_bf16, emulated)]
    print("| " + " | ".join(cells) + " |")
    print(f"\nEmulation under torch.compile: {compiled_agrees()}")


if __name__ == "__main__":
    main()

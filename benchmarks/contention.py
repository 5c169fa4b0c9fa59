"""Training-step images/s of ResNet-20 (batch 128, synthetic CIFAR-sized input, CPU) under
each thread setting, one fresh process per setting, to see what helps when other processes
compete for the cores (issue 18, item 3).

    python benchmarks/contention.py [--rounds N]

Each line: threads, OMP_WAIT_POLICY, three rates of 3 steps each, the 1-minute load average.
Numbers are printed, never asserted; they mean something only beside the load they ran under.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

SETTINGS = [(2, None), (1, None), (2, "PASSIVE")]


def measure(threads: int) -> str:
    import torch

    from reslab.models import create_model

    torch.set_num_threads(threads)
    model = create_model("resnet20").to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(128, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(3):
            step()
        rates.append(round(3 * 128 / (time.perf_counter() - t)))
    wait = os.environ.get("OMP_WAIT_POLICY", "default")
    return f"threads={threads} wait={wait} img/s={rates} load={os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(measure(args.child), flush=True)
        return
    for _ in range(args.rounds):
        for threads, wait in SETTINGS:
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            if wait:
                env["OMP_WAIT_POLICY"] = wait  # read once, when OpenMP starts
            cmd = [sys.executable, __file__, "--child", str(threads)]
            subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()

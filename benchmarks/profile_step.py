"""Where a training step's time goes: the trainer's own session and step, profiled.

    python benchmarks/profile_step.py [--model resnet20] [--steps 10] [--data PATH]
                                      [--precision auto] [--compile off] [--json]

Builds the session `reslab bench` times (the trainer's step, the device-resident loader with
the paper's augmentation), runs warm-up steps, then profiles ``--steps`` steps with the
PyTorch profiler and prints two breakdowns of the self CPU time: by phase of the step (the
loader's batch, forward, backward, optimizer) and by kind of operator (convolutions,
batch norm, element-wise, the optimizer's updates, ...). Printed, never asserted: run it
on a quiet machine (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # no profiler start/stop chatter

import torch
from torch.profiler import ProfilerActivity, profile, record_function

PHASES = ("data", "forward", "loss", "backward", "optimizer")
# Operator name (regex on the aten/mkldnn name) -> kind; first match wins.
KINDS = (
    ("convolution", r"conv|mkldnn_convolution"),
    ("batch norm", r"batch_norm|native_batch_norm"),
    ("optimizer update", r"_foreach|sgd|add_|mul_|lerp"),
    ("relu, add (element-wise)", r"relu|threshold|add|mul|where"),
    ("pooling, linear, loss", r"pool|mean|addmm|mm|linear|log_softmax|nll|cross_entropy"),
    ("augmentation, copies", r"copy_|index|flip|pad|cat|stack|narrow|slice|select|to|clone"),
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--data", help="real small images (a CIFAR-style source); else synthetic")
    p.add_argument("--precision", default="auto")
    p.add_argument("--compile", default="off", choices=("auto", "on", "off"))
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    result = profile_step(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render(result))
    return 0


def profile_step(args: argparse.Namespace) -> dict:
    from reslab.bench import bench_session, synthetic_images
    from reslab.data import open_source

    images = (
        open_source(args.data).load("train")
        if args.data
        else synthetic_images(32, 8 * args.batch, 10)
    )
    compiled = {"auto": "auto", "on": True, "off": False}[args.compile]
    s = bench_session(
        args.model,
        images,
        args.batch,
        torch.device("cpu"),
        {"run.precision": args.precision, "model.compile": compiled},
    )
    batches = (b for epoch in range(10**6) for b in s.loaders.train.batches(epoch))
    s.model.train()

    def step() -> None:
        with record_function("data"):
            x, y = next(batches)
        with record_function("forward"), s.autocast():
            logits = s.model(x)
        with record_function("loss"):
            loss = s.criterion(logits.float(), y)
        s.optimizer.zero_grad(set_to_none=True)
        with record_function("backward"):
            loss.backward()
        with record_function("optimizer"):
            s.optimizer.step()

    for _ in range(args.warmup + (2 if s.config.model.compile else 0)):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    return breakdown(prof, args, s.config)


def breakdown(prof, args: argparse.Namespace, config) -> dict:
    events = prof.key_averages()
    phases = {e.key: e.cpu_time_total for e in events if e.key in PHASES}
    kinds: dict[str, float] = defaultdict(float)
    total = 0.0
    for e in events:
        if e.key in PHASES or e.key.startswith("ProfilerStep") or e.self_cpu_time_total <= 0:
            continue
        total += e.self_cpu_time_total
        name = e.key.lower()
        kind = next((k for k, pattern in KINDS if re.search(pattern, name)), "other")
        kinds[kind] += e.self_cpu_time_total
    return {
        "model": args.model,
        "batch": args.batch,
        "steps": args.steps,
        "precision": config.run.precision,
        "compiled": config.model.compile,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "phases_ms_per_step": {k: phases.get(k, 0.0) / 1e3 / args.steps for k in PHASES},
        "kinds_share": {k: v / total for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
        "top_ops": [
            {"op": e.key, "self_ms_per_step": e.self_cpu_time_total / 1e3 / args.steps}
            for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]
            if e.key not in PHASES
        ],
    }


def render(r: dict) -> str:
    compiled = "compiled" if r["compiled"] else "eager"
    lines = [
        f"{r['model']}, batch {r['batch']}, {r['precision']} {compiled}, "
        f"{r['threads']} threads, torch {r['torch']}; {r['steps']} profiled steps",
        "",
        "phase of the step (CPU ms per step, inclusive):",
    ]
    lines += [f"  {k:<10} {v:8.1f}" for k, v in r["phases_ms_per_step"].items()]
    lines += ["", "kind of operator (share of self CPU time):"]
    lines += [f"  {k:<28} {100 * v:5.1f} %" for k, v in r["kinds_share"].items()]
    lines += ["", "top operators (self CPU ms per step):"]
    lines += [f"  {o['op']:<44} {o['self_ms_per_step']:8.2f}" for o in r["top_ops"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

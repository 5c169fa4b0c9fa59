"""Synthetic run directories, written exactly per docs/design.md ("Run directory").

The curves are smooth exponential decays to chosen final errors with a little noise, so that
tests can say which claims must hold. Other tests compare the trainer's real output against
the same contract (``reslab.analysis.runs.TRAIN_KEYS``, ``EVAL_KEYS``, ``SUMMARY_KEYS``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from reslab.analysis.responses import DEFINITION

JPEG_SOURCE = "/data/cifar10-jpeg.tar.gz"
JPEG_DATA = "CIFAR-10 (JPEG copy): 50000 train / 10000 test images, 32x32, 10 classes"
ITERS_PER_EPOCH = 391  # 50k images, batch 128


def curve(
    iterations: np.ndarray, start: float, final: float, rng: np.random.Generator
) -> np.ndarray:
    """Error (%) decaying from ``start`` to exactly ``final`` at the end, with 1 % noise."""
    t = iterations / iterations[-1]
    err = final + (start - final) * np.exp(-6 * t)
    err *= 1 + 0.01 * rng.standard_normal(len(err))
    err[-1] = final
    return err


@functools.cache
def _params(model: str, options: tuple) -> int:
    from reslab.models import count_params, create_model

    with torch.device("meta"):
        return count_params(create_model(model, **dict(options)))


def write_run(
    path: Path,
    *,
    model: str = "resnet20",
    options: dict[str, Any] | None = None,
    seed: int = 0,
    recipe: str = "cifar-paper",
    budget: str | None = "smoke",
    iterations: int = 2000,
    log_every: int = 50,
    eval_every: int = ITERS_PER_EPOCH,
    train_err: float = 5.0,
    test_err: float = 9.0,
    status: str | None = "finished",
    source: str = JPEG_SOURCE,
    data: str = JPEG_DATA,
    responses: list[float] | None = None,
    params: int | None = None,
) -> Path:
    """A run directory at ``path``; ``status=None`` leaves it unfinished (no summary.json)."""
    params = _params(model, tuple(sorted((options or {}).items()))) if params is None else params
    path.mkdir(parents=True)
    (path / "checkpoints").mkdir()
    rng = np.random.default_rng([seed, iterations, int(train_err * 100), int(test_err * 100)])
    command = (
        f"reslab train --model {model} --recipe {recipe} --data {source} --seed {seed} "
        f"--iterations {iterations} --out {path}"
    )
    config = {
        "recipe": recipe,
        "model": {
            "name": model,
            "options": options or {},
            "channels_last": True,
            "compile": False,
            "sync_bn": False,
        },
        "data": {
            "source": source,
            "root": None,
            "normalization": "per_pixel_mean",
            "augment": True,
            "val_split": 0,
        },
        "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 128},
        "schedule": {
            "kind": "steps",
            "iterations": iterations,
            "epochs": None,
            "milestones": [iterations // 2, iterations * 3 // 4],
            "gamma": 0.1,
        },
        "run": {"seed": seed, "device": "auto", "log_every": log_every, "eval_every": eval_every},
    }
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {
        "command": command,
        "started": "2025-01-01T00:00:00+0000",
        "host": "testhost",
        "python": "3.12.0",
        "torch": "2.14.1",
        "torchvision": "0.29.1",
        "reslab": "0.1.0",
        "git_commit": "0" * 40,
        "device": "cpu",
        "hardware": "Test CPU (2 cores)",
        "cpu_count": 2,
        "torch_threads": 2,
        "world_size": 1,
    }
    (path / "env.json").write_text(json.dumps(env, indent=2) + "\n")

    its = np.arange(log_every, iterations + 1, log_every)
    evals = np.unique(np.append(np.arange(eval_every, iterations + 1, eval_every), iterations))
    train, test = curve(its, 90.0, train_err, rng), curve(evals, 90.0, test_err, rng)
    records = [
        {
            "kind": "train",
            "iteration": int(i),
            "epoch": i / ITERS_PER_EPOCH,
            "lr": 0.1,
            "train_loss": e / 30,
            "train_top1_err": float(e),
            "images_per_s": 500.0,
            "elapsed_s": i / 4,
        }
        for i, e in zip(its, train, strict=True)
    ] + [
        {
            "kind": "eval",
            "iteration": int(i),
            "epoch": i / ITERS_PER_EPOCH,
            "split": "test",
            "loss": e / 30,
            "top1_err": float(e),
            "top5_err": e / 5,
            "images": 10_000,
        }
        for i, e in zip(evals, test, strict=True)
    ]
    records.sort(key=lambda r: (r["iteration"], r["kind"] == "eval"))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    if status is not None:
        summary = {
            "model": model,
            "model_options": options or {},
            "recipe": recipe,
            "data": data,
            "seed": seed,
            "iterations": iterations,
            "epochs": iterations / ITERS_PER_EPOCH,
            "train_images": 50_000,
            "test_top1_err": float(test[-1]),
            "test_top5_err": float(test[-1] / 5),
            "test_loss": float(test[-1] / 30),
            "best_val_top1_err": None,
            "best_val_iteration": None,
            "final_train_top1_err": float(train[-1]),
            "params": params,
            "wall_s": iterations / 4,
            "device": "cpu",
            "world_size": 1,
            "status": status,
        }
        (path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if budget is not None:
        reproduce = {"experiment": "cifar10-table6", "budget": budget, "command": command}
        (path / "reproduce.json").write_text(json.dumps(reproduce, indent=2) + "\n")
    if responses is not None:
        record = {
            "model": model,
            "checkpoint": "checkpoints/latest.pt",
            "iteration": iterations,
            "images": 10_000,
            "definition": DEFINITION,
            "layers": [f"layer{i}" for i in range(len(responses))],
            "std": responses,
        }
        (path / "responses.json").write_text(json.dumps(record, indent=2) + "\n")
    return path

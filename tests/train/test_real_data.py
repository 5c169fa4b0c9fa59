"""ResNet-20 on a subset of the real CIFAR-10 (JPEG copy) learns far better than chance."""

from __future__ import annotations

import json
from pathlib import Path

from reslab.train.launch import launch


def test_resnet20_learns_on_real_cifar10(real_source, tmp_path: Path) -> None:
    run = tmp_path / "run"
    summary = launch(
        model="resnet20",
        recipe="cifar-quick",
        data=str(real_source.path),
        out=run,
        iterations=200,
        sets=[
            f"data.root={real_source.root}",
            "data.train_subset_per_class=500",
            "data.test_subset_per_class=100",
            "optim.batch_size=64",
            "run.eval_every=100",
            "run.log_every=50",
            "run.checkpoint_every=100",
        ],
    )
    assert summary["status"] == "finished"
    assert summary["train_images"] == 5_000
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["images"] for r in evals if r["kind"] == "eval"] == [1_000, 1_000]
    assert "JPEG" in json.dumps(summary["data"]) or "jpeg" in json.dumps(summary["data"])
    # Measured (seed 0): 61.2 % on one thread (a pytest worker), 57.9 % on two; chance: 90 %.
    assert summary["test_top1_err"] < 70.0

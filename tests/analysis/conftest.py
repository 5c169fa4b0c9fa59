"""A tree of synthetic run directories shaped like a `reslab reproduce` output."""

from __future__ import annotations

from pathlib import Path

import pytest

from .rundirs import write_run

# (model, final training error, final test error, mean response std): the paper's pattern.
PAPER_LIKE = [
    ("plain20", 3.0, 9.5, 1.6),
    ("plain56", 7.0, 13.0, 1.4),
    ("resnet20", 3.5, 8.9, 1.1),
    ("resnet32", 2.5, 7.7, None),
    ("resnet44", 1.8, 7.3, None),
    ("resnet56", 1.2, 7.1, 0.8),
    ("resnet110", 0.5, 6.6, 0.5),
]
LAYERS = {"plain20": 19, "plain56": 55, "resnet20": 19, "resnet56": 55, "resnet110": 109}


def write_study(root: Path, budget: str = "short", seeds: int = 2) -> Path:
    for seed in range(seeds):
        for model, train, test, std in PAPER_LIKE:
            stds = None if std is None else [std + 0.01 * (i % 5) for i in range(LAYERS[model])]
            write_run(
                root / budget / model / f"seed{seed}",
                model=model,
                seed=seed,
                budget=budget,
                iterations=6000,
                train_err=train,
                test_err=test + 0.1 * seed,
                responses=stds,
            )
    for option, test in (("B", 8.6), ("C", 8.4)):
        write_run(
            root / budget / f"resnet20-{option}" / "seed0",
            model="resnet20",
            options={"shortcut": option},
            budget=budget,
            iterations=6000,
            test_err=test,
        )
    write_run(
        root / budget / "resnet1202" / "seed0",
        model="resnet1202",
        budget=budget,
        iterations=6000,
        status=None,
    )  # still training
    return root


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_study(tmp_path_factory.mktemp("study"))

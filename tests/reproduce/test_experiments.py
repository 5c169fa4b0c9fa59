"""Experiments and budgets are data: what each experiment trains, and how."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from reslab.errors import ReslabError
from reslab.models import list_models
from reslab.reproduce import BUDGETS, EXPERIMENTS, get_budget, get_experiment, plan
from reslab.train.config import resolve


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_model_is_registered(name: str) -> None:
    experiment = EXPERIMENTS[name]
    for spec in experiment.specs + experiment.opt_in:
        assert spec.model in list_models()
    assert set(experiment.responses) <= {s.model for s in experiment.specs}


def test_the_papers_models() -> None:
    models = lambda e: [s.model for s in get_experiment(e).specs]  # noqa: E731
    assert models("cifar10-table6") == ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]
    assert models("cifar10-fig6") == [
        "plain20",
        "plain32",
        "plain44",
        "plain56",
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet110",
    ]
    assert get_experiment("cifar10-fig7").responses == (
        "plain20",
        "plain56",
        "resnet20",
        "resnet56",
        "resnet110",
    )
    assert [s.slug for s in get_experiment("shortcuts").specs] == [
        "resnet20",
        "resnet20-shortcutB",
        "resnet20-shortcutC",
    ]
    assert [s.model for s in get_experiment("cifar10-table6").opt_in] == ["resnet1202"]


def test_runs_are_shared_between_experiments(tmp_path: Path) -> None:
    dirs = {
        name: {
            r.run_dir
            for r in plan(
                get_experiment(name), get_budget("short"), seeds=2, data="cifar10", out=tmp_path
            )
        }
        for name in ("cifar10-table6", "cifar10-fig6", "cifar10-fig7", "shortcuts")
    }
    assert dirs["cifar10-table6"] < dirs["cifar10-fig6"]
    assert tmp_path / "short" / "resnet20-s1" in dirs["shortcuts"] & dirs["cifar10-fig7"]
    assert len(dirs["cifar10-table6"]) == 10


@pytest.mark.parametrize("budget", sorted(BUDGETS))
def test_commands_resolve_to_the_papers_recipe(budget: str, tmp_path: Path) -> None:
    """The recorded command is a valid `reslab train` line whose overrides all resolve."""
    runs = plan(
        get_experiment("shortcuts"), get_budget(budget), seeds=1, data="cifar10", out=tmp_path
    )
    run = runs[1]
    argv = shlex.split(run.command)
    assert argv[:4] == ["reslab", "train", "--model", "resnet20"]
    assert argv[argv.index("--out") + 1] == str(tmp_path / budget / "resnet20-shortcutB-s0")
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    config = resolve("cifar-paper", sets=sets)
    assert config.model.options == {"shortcut": "B"}
    assert config.optim.batch_size == (8 if budget == "smoke" else 128)
    assert ("--iterations" in argv) == (budget != "paper")


def test_short_budget_scales_the_paper_schedule() -> None:
    assert get_budget("short").iterations * 16 == 64_000


def test_unknown_names() -> None:
    with pytest.raises(ReslabError, match="unknown experiment 'cifar10-fig8'"):
        get_experiment("cifar10-fig8")
    with pytest.raises(ReslabError, match="unknown budget 'long'"):
        get_budget("long")

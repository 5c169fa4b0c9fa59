"""The paper's CIFAR-10 experiments and their budgets, as data.

An experiment is a list of training runs; a budget says how long each run trains. Runs are
named by model, options and seed, so experiments that need the same network share its run
(ResNet-20 serves Table 6, Fig. 6, Fig. 7 and the shortcut study).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reslab.errors import unknown
from reslab.paper import BUDGETS, FIG7, PLAINS, RESNET_1202, RESNETS, Budget

__all__ = [
    "BUDGETS",
    "EXPERIMENTS",
    "RECIPE",
    "Budget",
    "Experiment",
    "PlannedRun",
    "Spec",
    "get_budget",
    "get_experiment",
    "plan",
]

RECIPE = "cifar-paper"  # He et al. 2015, Sec. 4.2


@dataclass(frozen=True)
class Spec:
    """One network to train: a registered model and its non-default options."""

    model: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def slug(self) -> str:
        return self.model + "".join(f"-{key}{value}" for key, value in self.options)


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    specs: tuple[Spec, ...] = ()
    opt_in: tuple[Spec, ...] = ()  # trained only with --with-1202
    responses: tuple[str, ...] = ()  # models whose layer responses (Fig. 7) are computed


def _specs(*models: str) -> tuple[Spec, ...]:
    return tuple(Spec(m) for m in models)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "cifar10-table6",
            "Table 6: test error of ResNet-20 to 110 (1202 opt-in)",
            _specs(*RESNETS),
            _specs(RESNET_1202),
        ),
        Experiment(
            "cifar10-fig6",
            "Fig. 6: training curves of plain nets and ResNets",
            _specs(*PLAINS, *RESNETS),
            _specs(RESNET_1202),
        ),
        Experiment(
            "cifar10-fig7",
            "Fig. 7: standard deviations of the layer responses",
            _specs(*FIG7),
            responses=FIG7,
        ),
        # The paper compares options A/B/C on ImageNet ResNet-34 (Table 3); on CIFAR-10 the
        # same comparison at ResNet-20 costs minutes instead of GPU-weeks.
        Experiment(
            "shortcuts",
            "Shortcut options A, B, C at ResNet-20 (paper: Table 3)",
            (
                Spec("resnet20"),
                Spec("resnet20", (("shortcut", "B"),)),
                Spec("resnet20", (("shortcut", "C"),)),
            ),
        ),
        Experiment("imagenet-table1", "Table 1: the ImageNet architectures, from the zoo"),
    )
}


@dataclass(frozen=True)
class PlannedRun:
    """A run of an experiment at a budget: where it lives and how to train it alone."""

    spec: Spec
    seed: int
    budget: Budget
    data: str
    run_dir: Path
    sets: tuple[str, ...] = ()

    def train_args(self) -> list[str]:
        """The ``reslab train`` arguments that train this run alone."""
        args = ["--model", self.spec.model, "--recipe", RECIPE, "--data", self.data]
        if self.budget.iterations is not None:
            args += ["--iterations", str(self.budget.iterations)]
        args += ["--seed", str(self.seed)]
        for item in self.sets:
            args += ["--set", item]
        return [*args, "--out", str(self.run_dir)]

    @property
    def command(self) -> str:
        return shlex.join(["reslab", "train", *self.train_args()])


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise unknown("experiment", name, EXPERIMENTS)
    return EXPERIMENTS[name]


def get_budget(name: str) -> Budget:
    if name not in BUDGETS:
        raise unknown("budget", name, BUDGETS)
    return BUDGETS[name]


def plan(
    experiment: Experiment,
    budget: Budget,
    *,
    seeds: int,
    data: str,
    out: Path,
    with_1202: bool = False,
    sets: tuple[str, ...] = (),
) -> list[PlannedRun]:
    """Every run of ``experiment``: under ``OUT/BUDGET/SLUG-sSEED``, seeds 0..seeds-1."""
    specs = experiment.specs + (experiment.opt_in if with_1202 else ())
    return [
        PlannedRun(
            spec,
            seed,
            budget,
            data,
            out / budget.name / f"{spec.slug}-s{seed}",
            budget.sets + tuple(f"model.options.{k}={v}" for k, v in spec.options) + sets,
        )
        for spec in specs
        for seed in range(seeds)
    ]

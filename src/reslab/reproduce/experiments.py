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

RECIPE = "cifar-paper"  # He et al. 2015, Sec. 4.2


@dataclass(frozen=True)
class Budget:
    """How long each run trains; ``sets`` are extra ``--set`` overrides of the recipe."""

    name: str
    description: str
    iterations: int | None  # None: the recipe's own length (64k iterations)
    sets: tuple[str, ...] = ()


BUDGETS: dict[str, Budget] = {
    b.name: b
    for b in (
        Budget("paper", "the paper's schedule: 64k iterations, lr /10 at 32k and 48k", None,
               ("run.eval_every=1000",)),
        # 1/4 of the paper's schedule, milestones scaled with it (8k, 12k): long enough for the
        # deeper nets to converge to their ranking; hours per net on a 2-core CPU.
        Budget("medium", "1/4 of the paper's schedule: 16k iterations, lr /10 at 8k and 12k",
               16000, ("run.eval_every=500", "run.checkpoint_every=500")),
        # 1/16 of the paper's schedule, milestones scaled with it (2k, 3k): about 22 minutes for
        # ResNet-20 and an hour for ResNet-56 on one core of a 2-core CPU.
        Budget("short", "1/16 of the paper's schedule: 4k iterations, lr /10 at 2k and 3k", 4000,
               ("run.eval_every=250", "run.checkpoint_every=250")),
        # Minutes for a whole experiment: a class-balanced subset and a handful of iterations.
        Budget("smoke", "a pipeline check: 4 iterations on 40 training images", 4,
               ("optim.batch_size=8", "data.train_subset_per_class=4",
                "data.test_subset_per_class=2", "data.eval_batch_size=20", "run.log_every=1",
                "run.eval_every=2", "run.checkpoint_every=2")),
    )
}  # fmt: skip


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


RESNETS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")
PLAINS = ("plain20", "plain32", "plain44", "plain56")
FIG7 = ("plain20", "plain56", "resnet20", "resnet56", "resnet110")

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment("cifar10-table6", "Table 6: test error of ResNet-20 to 110 (1202 opt-in)",
                   _specs(*RESNETS), _specs("resnet1202")),
        Experiment("cifar10-fig6", "Fig. 6: training curves of plain nets and ResNets",
                   _specs(*PLAINS, *RESNETS), _specs("resnet1202")),
        Experiment("cifar10-fig7", "Fig. 7: standard deviations of the layer responses",
                   _specs(*FIG7), responses=FIG7),
        # The paper compares options A/B/C on ImageNet ResNet-34 (Table 3); on CIFAR-10 the
        # same comparison at ResNet-20 costs minutes instead of GPU-weeks.
        Experiment("shortcuts", "Shortcut options A, B, C at ResNet-20 (paper: Table 3)",
                   (Spec("resnet20"), Spec("resnet20", (("shortcut", "B"),)),
                    Spec("resnet20", (("shortcut", "C"),)))),
        Experiment("imagenet-table1", "Table 1: the ImageNet architectures, from the zoo"),
    )
}  # fmt: skip


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
        PlannedRun(spec, seed, budget, data, out / budget.name / f"{spec.slug}-s{seed}",
                   budget.sets + tuple(f"model.options.{k}={v}" for k, v in spec.options)
                   + sets)
        for spec in specs
        for seed in range(seeds)
    ]  # fmt: skip

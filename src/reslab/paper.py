"""The paper's CIFAR-10 experiments as plain data (He et al. 2015, Sec. 4.2): the one home
of the model lists, the schedule length and the reproduction budgets that recipes,
``reslab reproduce``, the report and the claims read. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass

CIFAR_ITERATIONS = 64_000  # Sec. 4.2: "terminate training at 64k iterations"
CIFAR_MILESTONES = (32_000, 48_000)  # Sec. 4.2: "divide it by 10 at 32k and 48k iterations"

RESNETS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")  # Table 6, Fig. 6
RESNET_1202 = "resnet1202"  # Table 6's last row, Fig. 6 (right): opt-in, GPU-days
PLAINS = ("plain20", "plain32", "plain44", "plain56")  # Fig. 6 (left)
FIG7 = ("plain20", "plain56", "resnet20", "resnet56", "resnet110")  # layer responses


@dataclass(frozen=True)
class Budget:
    """How long each run trains; ``sets`` are extra ``--set`` overrides of the recipe."""

    name: str
    description: str
    iterations: int | None  # None: the recipe's own length (64k iterations)
    sets: tuple[str, ...] = ()


BUDGETS: dict[str, Budget] = {  # longest first: the report's order
    b.name: b
    for b in (
        Budget(
            "paper",
            "the paper's schedule: 64k iterations, lr /10 at 32k and 48k",
            None,
            ("run.eval_every=1000",),
        ),
        # 1/4 of the paper's schedule, milestones scaled with it (8k, 12k): long enough for the
        # deeper nets to converge to their ranking; hours per net on a 2-core CPU.
        Budget(
            "medium",
            "1/4 of the paper's schedule: 16k iterations, lr /10 at 8k and 12k",
            16000,
            ("run.eval_every=500", "run.checkpoint_every=500"),
        ),
        # 1/16 of the paper's schedule, milestones scaled with it (2k, 3k): about 22 minutes for
        # ResNet-20 and an hour for ResNet-56 on one core of a 2-core CPU.
        Budget(
            "short",
            "1/16 of the paper's schedule: 4k iterations, lr /10 at 2k and 3k",
            4000,
            ("run.eval_every=250", "run.checkpoint_every=250"),
        ),
        # Minutes for a whole experiment: a class-balanced subset and a handful of iterations.
        Budget(
            "smoke",
            "a pipeline check: 4 iterations on 40 training images",
            4,
            (
                "optim.batch_size=8",
                "data.train_subset_per_class=4",
                "data.test_subset_per_class=2",
                "data.eval_batch_size=20",
                "run.log_every=1",
                "run.eval_every=2",
                "run.checkpoint_every=2",
            ),
        ),
    )
}

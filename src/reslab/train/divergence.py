"""Divergence: a non-finite loss, weights, BN statistics or optimizer state stop the run
before it saves anything, so that the last checkpoint stays a good one (docs/training.md,
"Interruptions, faults and resume")."""

from __future__ import annotations

import torch

from reslab.checkpoint import unwrap
from reslab.errors import ReslabError
from reslab.train import distributed
from reslab.train.session import Session


class TrainingDiverged(ReslabError):
    """The loss, the weights (or BN statistics, or optimizer state) became NaN or infinite."""

    exit_code = 4  # docs/training.md, "Exit status"


def diverged(s: Session, what: str) -> TrainingDiverged:
    return TrainingDiverged(f"{what}; {_kept_checkpoint(s)}")


def _kept_checkpoint(s: Session) -> str:
    if s.last_saved is None:
        return (
            "no checkpoint was written yet (start again with a lower learning rate: "
            "reslab train --resume RUN_DIR --set optim.lr=...)"
        )
    return (
        f"the last good checkpoint (iteration {s.last_saved}) is kept in "
        "checkpoints/latest.pt (continue with a lower learning rate: reslab train "
        "--resume RUN_DIR --set optim.lr=..., or warm up)"
    )


def _nonfinite_tensor(s: Session) -> str | None:
    """The name of the first parameter, buffer (BN running statistics) or optimizer state
    tensor that holds a NaN or an infinity, on any rank; None when all are finite."""
    named = [*unwrap(s.model).named_parameters(), *unwrap(s.model).named_buffers()]
    if s.ema is not None:
        named += [(f"ema.{k}", t) for k, t in s.ema.module.state_dict().items()]
    for i, state in enumerate(s.optimizer.state.values()):
        named += [(f"optimizer.state[{i}].{k}", t) for k, t in state.items() if torch.is_tensor(t)]
    named = [(k, t) for k, t in named if t.is_floating_point()]
    finite = torch.stack([torch.isfinite(t).all() for _, t in named])  # one host sync
    bad = not bool(finite.all())
    if not distributed.any_rank(bad, s.device):
        return None
    if not bad:
        return "a tensor on another rank"
    return named[int((~finite).nonzero()[0])][0]


def check_finite(s: Session) -> None:
    """Refuse to save non-finite weights: they are divergence, even when the loss of the
    last interval was still finite (a huge step makes BN's running_var overflow)."""
    name = _nonfinite_tensor(s)
    if name is not None:
        raise diverged(s, f"{name} became non-finite by iteration {s.state.iteration}")


@torch.no_grad()
def check_evaluable(s: Session, x: torch.Tensor, y: torch.Tensor) -> None:
    """The weights to be saved must give a finite loss in evaluation mode, on the last
    training batch: finite but huge BN running statistics (a step far too large) make
    every evaluation NaN while the training loss, on batch statistics, stays finite."""
    models = [unwrap(s.model), *([s.ema.module] if s.ema is not None else [])]
    losses = []
    for model in models:
        was_training = model.training
        model.eval()
        with s.autocast():
            logits = model(x)
        model.train(was_training)
        losses.append(s.criterion(logits.float(), y))
    bad = not bool(torch.isfinite(torch.stack(losses)).all())
    if distributed.any_rank(bad, s.device):
        raise diverged(
            s,
            f"the weights of iteration {s.state.iteration} give a non-finite "
            "loss in evaluation mode (BN statistics out of range)",
        )

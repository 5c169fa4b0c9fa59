"""Layer responses (2015, Sec. 4.2 "Analysis of Layer Responses", Fig. 7).

The paper: "the responses are the outputs of each 3x3 layer, after BN and before other
nonlinearity (ReLU/addition)"; Fig. 7 plots one standard deviation per layer. What is
computed here, for every 3x3 convolution that a BN follows, on the images given (the test
set in the paper):

    std(layer) = mean over the layer's channels c of  std_c,
    std_c      = population std of the BN's output in channel c over all images and
                 positions (N * H * W values).

Per channel first, because a channel's response after BN is gamma_c * x_hat + beta_c: its
std is the strength the layer learnt (|gamma_c| times the test-to-running std ratio),
independent of the offsets beta_c, which a std pooled over channels would mix in.

The statistics are computed inside a forward hook on each BN (before the in-place ReLU that
follows can overwrite the tensor) and merged batch by batch in float64, so the test set never
sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from reslab.analysis.runs import RESPONSES_FILE
from reslab.errors import DataError, OptionError
from reslab.fileio import write_json

DEFINITION = (
    "per 3x3 conv: output of the BN that follows it (before ReLU and addition); "
    "population std per channel over images and positions, averaged over channels"
)


def response_layers(model: nn.Module) -> list[tuple[str, nn.BatchNorm2d]]:
    """``(name of the 3x3 conv, the BN right after it)`` in forward order.

    Relies on the torchvision naming that reslab's units follow: ``convK`` is followed by
    ``bnK`` in the same module (the CIFAR stem, both convs of a basic unit, the middle conv
    of a bottleneck). The ImageNet stem (7x7) and 1x1 convolutions are not 3x3 layers.
    """
    if any(getattr(m, "preact", False) for m in model.modules()):
        raise OptionError(
            "layer responses are defined for post-activation networks (2015, Fig. 7): in a "
            "pre-activation unit BN precedes each convolution, so no BN output follows a 3x3 layer"
        )
    layers = []
    for prefix, module in model.named_modules():
        for name, conv in module.named_children():
            bn = getattr(module, f"bn{name[4:]}", None) if name.startswith("conv") else None
            if (
                isinstance(conv, nn.Conv2d)
                and conv.kernel_size == (3, 3)
                and isinstance(bn, nn.BatchNorm2d)
            ):
                layers.append((f"{prefix}.{name}" if prefix else name, bn))
    if not layers:
        raise OptionError(f"{type(model).__name__} has no 3x3 convolution followed by BN")
    return layers


class ChannelMoments:
    """Per-channel count, mean and sum of squared deviations, merged batch by batch
    (Chan, Golub and LeVeque's pairwise update), accumulated in float64."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = torch.zeros(0, dtype=torch.float64)
        self.m2 = torch.zeros(0, dtype=torch.float64)

    def add(self, out: Tensor) -> None:
        """``out``: (N, C, H, W), any float dtype, layout and device."""
        dtype = torch.float32 if out.device.type == "mps" else torch.float64  # mps: no float64
        x = out.detach().to(dtype)
        n = x.numel() // x.shape[1]
        mean = x.mean(dim=(0, 2, 3))
        m2 = (x - mean[:, None, None]).square().sum(dim=(0, 2, 3))
        mean, m2 = mean.to("cpu", torch.float64), m2.to("cpu", torch.float64)
        if self.n == 0:
            self.n, self.mean, self.m2 = n, mean, m2
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta.square() * (self.n * n / total)
        self.n = total

    def std(self) -> Tensor:
        """(C,) population standard deviations."""
        return (self.m2 / self.n).sqrt()


@torch.no_grad()
def layer_responses(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> np.ndarray:
    """(number of 3x3 layers,) response std of each layer in forward order (module doc).

    ``batches`` yields ``(x, y)`` with ``x`` normalised as the model was trained; ``x`` is
    moved to the model's device. The model runs in eval mode (BN with running statistics,
    as at test time) and is returned to its previous mode.
    """
    layers = response_layers(model)
    moments = [ChannelMoments() for _ in layers]
    hooks = [bn.register_forward_hook(_hook(m)) for (_, bn), m in zip(layers, moments, strict=True)]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for x, _ in batches:
            model(x.to(device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    if moments[0].n == 0:
        raise DataError("layer_responses got no batches: give at least one (x, y) batch")
    return np.array([float(m.std().mean()) for m in moments])


def _hook(moments: ChannelMoments):
    def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        moments.add(output)

    return hook


def compute_and_save_responses(
    run_dir: str | Path,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    checkpoint: str = "latest.pt",
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Layer responses of a run's trained model, written to ``RUN_DIR/responses.json``.

    ``checkpoint`` is a file in ``RUN_DIR/checkpoints``; the default, ``latest.pt``, holds
    the final weights of a finished run, the network the paper analyses. ``batches`` must be
    the test set normalised with the checkpoint's normalisation.
    """
    from reslab.checkpoint import load_checkpoint
    from reslab.models import model_from_checkpoint

    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir / "checkpoints" / checkpoint, map_location=device)
    model = model_from_checkpoint(ckpt).to(device)
    counted = _Counted(batches)
    stds = layer_responses(model, counted)
    record: dict[str, Any] = {
        "model": ckpt["model"]["name"],
        "checkpoint": f"checkpoints/{checkpoint}",
        "iteration": ckpt.get("iteration"),
        "images": counted.images,
        "definition": DEFINITION,
        "layers": [name for name, _ in response_layers(model)],
        "std": stds.tolist(),
    }
    write_json(run_dir / RESPONSES_FILE, record)
    return stds


class _Counted:
    """Passes batches through, counting the images."""

    def __init__(self, batches: Iterable[tuple[Tensor, Tensor]]) -> None:
        self.batches, self.images = batches, 0

    def __iter__(self):
        for x, y in self.batches:
            self.images += len(x)
            yield x, y

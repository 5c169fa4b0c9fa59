"""Pieces of a training session built from a configuration."""

from __future__ import annotations

import torch


def test_ema_matches_pytorchs_averaged_model_without_host_syncs() -> None:
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from reslab.models import create_model
    from reslab.train.session import build_ema

    model = create_model("resnet20")
    ours = build_ema(model, 0.9)
    reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        ours.update_parameters(model)
        reference.update_parameters(model)
        torch.nn.functional.cross_entropy(
            model(torch.randn(4, 3, 32, 32)), torch.randint(0, 10, (4,))
        ).backward()
        opt.step()
        opt.zero_grad()
    assert ours.n_averaged.device.type == "cpu"  # read without waiting for a GPU
    ref = reference.state_dict()
    for key, value in ours.state_dict().items():
        assert torch.equal(value, ref[key]), key

"""One reading of ``--device``/``run.device`` for training and evaluation."""

from __future__ import annotations

import pytest
import torch

from reslab.device import resolve_device
from reslab.errors import OptionError
from reslab.train import distributed


def test_names_read_the_same_for_training_and_evaluation() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    auto = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == auto == resolve_device()
    assert distributed.setup("auto").device.type == auto.type
    assert distributed.setup("cpu").device == torch.device("cpu")


def test_a_name_torch_does_not_know_is_one_line() -> None:
    with pytest.raises(OptionError, match="--device must be auto, cpu or cuda; got 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(OptionError, match="--device must be auto, cpu or cuda; got 'gpu'"):
        distributed.setup("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_refused_by_both(name: str) -> None:
    message = f"--device {name} was asked for, but PyTorch sees no CUDA device"
    with pytest.raises(OptionError, match=message):
        resolve_device(name)
    with pytest.raises(OptionError, match=message):
        distributed.setup(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_takes_cuda_as_this_process_gpu_and_cuda_n_as_given() -> None:
    assert resolve_device("cuda") == torch.device("cuda")  # eval.json records "cuda"
    assert distributed.setup("cuda").device == torch.device("cuda", 0)  # LOCAL_RANK 0
    assert distributed.setup("cuda:0").device == torch.device("cuda", 0)

"""Bad model names and options give errors that name what was wrong."""

from __future__ import annotations

import pytest
import torch

from reslab.errors import OptionError, UnknownNameError
from reslab.models import BasicBlock, create_model, get_entry, list_models, register


def test_unknown_name_lists_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean resnet56"):
        create_model("resnet65")


def test_bad_shortcut_names_argument_and_choices() -> None:
    with pytest.raises(ValueError, match=r"shortcut must be one of 'A', 'B', 'C', None; got 'D'"):
        create_model("resnet20", shortcut="D")


@pytest.mark.parametrize("name", list_models())
def test_cifar_nets_are_6n_plus_2_or_9n_plus_2(name: str) -> None:
    """The registry is the one way to build each network (2015, Sec. 4.2; 2016, Sec. 4)."""
    entry = get_entry(name)
    if entry.family != "cifar":
        return
    with torch.device("meta"):
        model = create_model(name)
    n = entry.layers[0]
    assert entry.layers == (n, n, n) and model.widths == (16, 32, 64)
    assert model.depth == (9 if entry.block.expansion > 1 else 6) * n + 2
    assert (model.shortcut is None) == name.startswith("plain")


def test_unknown_option_lists_the_allowed_ones() -> None:
    with pytest.raises(OptionError, match=r"takes no option layers.*shortcut"):
        create_model("resnet20", layers=(1, 1, 1))
    with pytest.raises(OptionError, match="takes no option shortcut"):
        create_model("plain20", shortcut="A")


@pytest.mark.parametrize("value", [0, -3, 2.5])
def test_bad_num_classes(value: object) -> None:
    with pytest.raises(OptionError, match="num_classes must be a positive integer"):
        create_model("resnet20", num_classes=value)


def test_duplicate_registration_raises() -> None:
    get_entry("resnet20")  # the zoo is loaded
    with pytest.raises(ValueError, match="'resnet20' is already registered"):
        register("cifar", "resnet20", BasicBlock, (1, 1, 1), {"num_classes": 10})


def test_an_option_cannot_also_be_fixed() -> None:
    with pytest.raises(ValueError, match="shortcut cannot be both fixed and an option"):
        register("cifar", "plain8", BasicBlock, (1, 1, 1), {"shortcut": "A"}, shortcut=None)

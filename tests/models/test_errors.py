"""Bad model names and options give errors that name what was wrong."""

from __future__ import annotations

import pytest

from reslab.errors import OptionError, UnknownNameError
from reslab.models import BasicBlock, cifar_resnet, create_model, get_entry, register


def test_unknown_name_lists_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean resnet56"):
        create_model("resnet65")


def test_bad_shortcut_names_argument_and_choices() -> None:
    with pytest.raises(ValueError, match=r"shortcut must be one of 'A', 'B', 'C', None; got 'D'"):
        create_model("resnet20", shortcut="D")


@pytest.mark.parametrize(("depth", "bottleneck"), [(21, False), (57, True), (2, False)])
def test_cifar_depth_must_be_6n_plus_2_or_9n_plus_2(depth: int, bottleneck: bool) -> None:
    form = "9n\\+2" if bottleneck else "6n\\+2"
    with pytest.raises(OptionError, match=f"depth must be {form}"):
        cifar_resnet(depth, bottleneck=bottleneck)


def test_any_valid_cifar_depth_builds() -> None:
    assert cifar_resnet(38).depth == 38
    assert cifar_resnet(29, bottleneck=True, preact=True).depth == 29
    assert cifar_resnet(14, shortcut=None).shortcut is None


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

"""Configuration: recipe < YAML < --set < flags, validated once, with errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from reslab.errors import OptionError, ReslabError, UnknownNameError
from reslab.train.config import from_dict, resolve
from reslab.train.recipes import RECIPES


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_recipe_resolves_and_round_trips(recipe: str) -> None:
    config = resolve(recipe)
    assert from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict()))) == config


def test_cifar_paper_is_the_papers_protocol() -> None:
    c = resolve("cifar-paper")
    assert (c.optim.lr, c.optim.momentum, c.optim.weight_decay, c.optim.batch_size) == (
        0.1,
        0.9,
        1e-4,
        128,
    )
    assert (c.schedule.iterations, c.schedule.milestones) == (64_000, (32_000, 48_000))
    assert c.data.normalization == "per_pixel_mean" and c.data.augment
    assert not c.optim.nesterov and c.optim.label_smoothing == 0


def test_departure_flags_default_to_the_papers_values() -> None:
    d = resolve("cifar-paper").data
    assert d.pad_value == "mean" and d.color_pca  # the authors' Torch code; 2015 Sec. 3.4
    c = resolve("cifar-paper", sets=["data.pad_value=black", "data.color_pca=false"])
    assert c.data.pad_value == "black" and not c.data.color_pca
    with pytest.raises(OptionError, match=r"data\.pad_value must be one of 'mean', 'black'"):
        resolve("cifar-paper", sets=["data.pad_value=grey"])
    d = resolve("imagenet-paper").data  # mean subtraction only, with the colour augmentation
    assert d.normalization == "per_pixel_mean" and d.color_pca


def test_precedence(tmp_path: Path) -> None:
    file = tmp_path / "over.yaml"
    file.write_text("optim: {lr: 0.05, batch_size: 64}\nmodel: {options: {shortcut: B}}\n")
    c = resolve(
        "cifar-paper",
        file=file,
        sets=["optim.lr=0.02", "model.options.zero_init_residual=true"],
        flags={"model.name": "resnet56", "run.seed": 3, "data.source": None},
    )
    assert c.optim.lr == 0.02 and c.optim.batch_size == 64
    assert c.model.name == "resnet56" and c.run.seed == 3 and c.data.source == "cifar10"
    assert c.model.options == {"shortcut": "B", "zero_init_residual": True}


def test_activation_checkpointing_is_off_by_default_and_reaches_the_model() -> None:
    from reslab.train.distributed import Dist
    from reslab.train.session import build_model

    assert resolve("cifar-paper").model.checkpoint_activations is False  # the paper's value
    c = resolve("cifar-paper", sets=["model.checkpoint_activations=true"])
    assert c.model.checkpoint_activations is True
    model = build_model(c, 10, 3, Dist(0, 1, 0, torch.device("cpu")))
    assert model.checkpoint_activations


def test_numbers_for_floats() -> None:
    assert resolve("cifar-paper", sets=["optim.lr=1"]).optim.lr == 1.0
    assert resolve("cifar-paper", sets=["optim.lr=1e-3"]).optim.lr == 0.001  # a YAML 1.1 string


@pytest.mark.parametrize(
    ("item", "error", "message"),
    [
        (
            "optim.lrr=0.1",
            UnknownNameError,
            "unknown config key 'optim.lrr'; did you mean optim.lr",
        ),
        ("optimm.lr=0.1", UnknownNameError, "unknown config key 'optimm'"),
        ("optim.lr=fast", OptionError, "optim.lr must be of type float; got 'fast'"),
        ("optim.nesterov=3", OptionError, "optim.nesterov must be of type bool; got 3"),
        ("optim.batch_size=true", OptionError, "optim.batch_size must be of type int; got True"),
        ("schedule.kind=exp", OptionError, "schedule.kind must be one of 'steps', 'plateau'"),
        ("schedule.milestones=5", OptionError, "schedule.milestones must be a list; got 5"),
        ("schedule.milestones=[9, 4]", OptionError, "schedule.milestones must be increasing"),
        ("optim.batch_size=0", OptionError, "optim.batch_size must be positive; got 0"),
        ("lr", OptionError, "--set expects key=value"),
        (
            "model.name=resnet65",
            UnknownNameError,
            "unknown model 'resnet65'; did you mean resnet56",
        ),
        (
            "model.checkpoint_activations=2",
            OptionError,
            "model.checkpoint_activations must be of type bool; got 2",
        ),
        (
            "model.checkpoint_activation=true",
            UnknownNameError,
            "did you mean model.checkpoint_activations",
        ),
    ],
)
def test_bad_overrides_name_the_key(item: str, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        resolve("cifar-paper", sets=[item])
    assert message in str(info.value)


def test_unknown_recipe_lists_choices() -> None:
    with pytest.raises(
        UnknownNameError, match="unknown recipe 'cifar-papr'; did you mean cifar-paper"
    ):
        resolve("cifar-papr")


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ReslabError, match=r"nope\.yaml: config file not found"):
        resolve("cifar-paper", file=tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [unclosed\n")
    with pytest.raises(ReslabError, match=r"bad\.yaml: not valid YAML"):
        resolve("cifar-paper", file=bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(OptionError, match="must hold a mapping"):
        resolve("cifar-paper", file=listy)


def test_exactly_one_length(tmp_path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text("schedule: {epochs: 10, iterations: 500}\n")
    with pytest.raises(OptionError, match=r"exactly one of schedule\.iterations and"):
        resolve("cifar-paper", file=both)
    # A length in epochs replaces the recipe's length in iterations (and the reverse).
    c = resolve("cifar-paper", sets=["schedule.epochs=10"])
    assert (c.schedule.epochs, c.schedule.iterations) == (10.0, None)
    c = resolve("cifar-paper", sets=["schedule.epochs=10", "schedule.iterations=null"])
    assert c.schedule.epochs == 10.0

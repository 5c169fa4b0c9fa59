"""What a newcomer meets first: -h, readable help, --dry-run, --skip-bad, recipes NAME,
and reproduce refusing to start hours of work without a --budget."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from reslab.data import DataWarning
from tests.train.conftest import write_image_folder

COMMANDS = [
    "models",
    "train",
    "recipes",
    "eval",
    "predict",
    "recalibrate-bn",
    "export",
    "plot",
    "report",
    "reproduce",
    "bench",
    "data",
    "data inspect",
]
TYPE_NAMES = re.compile(r"<(str|int|float|path|bool)>|<list\[|\{path\}")


@pytest.fixture(autouse=True)
def _data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESLAB_DATA", str(tmp_path / "data-root"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("folder"), {"train": 8, "test": 2})


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_dash_h_is_help_with_readable_metavars(cli, command: str) -> None:
    code, out, _ = cli(*command.split(), "-h")
    assert code == 0 and out.startswith("Usage: reslab")
    assert not TYPE_NAMES.search(out), out


def test_train_help_says_what_it_defaults_to(cli) -> None:
    _, out, _ = cli("train", "--help")
    flat = " ".join(out.split())
    assert "default resnet20" in flat and "default cifar10" in flat
    assert "--set KEY=VALUE" in out and "--epochs N" in out and "--skip-bad" in out


def test_dry_run_prints_config_and_schedule_and_trains_nothing(cli, folder, tmp_path) -> None:
    out_dir = tmp_path / "run"
    code, out, _ = cli(
        "train",
        "--recipe",
        "cifar-quick",
        "--data",
        str(folder),
        "--out",
        str(out_dir),
        "--set",
        "optim.batch_size=8",
        "--epochs",
        "10",
        "--dry-run",
    )
    assert code == 0, out
    config = yaml.safe_load(out)  # the comment lines are YAML comments
    assert config["recipe"] == "cifar-quick" and config["schedule"]["iterations"] == 40
    assert config["schedule"]["warmup_iterations"] == 6  # 15 % of 40
    assert "# data: 32 training images / batch 8 = 4 iterations per epoch" in out
    assert "# schedule: onecycle, 40 iterations = 10 epochs of 4" in out
    assert "# schedule: warm-up: iterations 0-5: lr rises linearly to 0.2" in out
    assert not out_dir.exists()


def test_dry_run_of_the_paper_recipe_lists_each_phase(cli, folder) -> None:
    code, out, _ = cli(
        "train",
        "--data",
        str(folder),
        "--set",
        "optim.batch_size=8",
        "--iterations",
        "800",
        "--dry-run",
    )
    assert code == 0
    assert "# schedule: iterations 0-399: lr 0.1" in out
    assert "# schedule: iterations 400-599: lr 0.01" in out
    assert "# schedule: iterations 600-799: lr 0.001" in out
    assert "not this one: 20" in out  # the 110-layer warm-up does not apply to ResNet-20


def test_a_corrupt_image_names_a_real_flag(cli, folder, tmp_path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "train" / "ant" / "000.png").write_bytes(b"not a png")
    args = ["train", "--data", str(bad), "--set", "optim.batch_size=8", "--dry-run"]
    code, _, err = cli(*args)
    assert code == 2 and "pass --skip-bad" in err
    with pytest.warns(DataWarning, match="skipped 1 unreadable image"):
        code, out, _ = cli(*args, "--skip-bad")
    assert code == 0 and yaml.safe_load(out)["data"]["skip_bad"] is True


def test_recipes_name_shows_its_values(cli) -> None:
    code, out, _ = cli("recipes", "cifar-paper")
    assert code == 0
    values = yaml.safe_load(out)
    assert values["schedule"]["milestones"] == [32_000, 48_000]
    assert values["optim"]["lr"] == 0.1
    code, _, err = cli("recipes", "cifar-papr")
    assert code == 2 and "did you mean cifar-paper" in err


def test_reproduce_needs_a_budget_to_train(cli, tmp_path) -> None:
    code, _, err = cli("reproduce", "cifar10-table6", "--out", str(tmp_path / "r"))
    assert code == 2 and "--budget is required to train" in err and "smoke:" in err
    assert not (tmp_path / "r").exists()
    code, out, _ = cli("reproduce", "shortcuts", "--dry-run", "--out", str(tmp_path / "r"))
    assert code == 0 and "--iterations 4000" in out  # a listing defaults to short


def test_reproduce_dry_run_shows_how_far_each_started_run_is(cli, tmp_path) -> None:
    run = tmp_path / "r" / "short" / "resnet20-shortcutB-s0"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("model: {name: resnet20}\nschedule: {iterations: 4000}\n")
    (run / "metrics.jsonl").write_text('{"kind": "train", "iteration": 1250}\n')
    code, out, _ = cli("reproduce", "shortcuts", "--dry-run", "--out", str(tmp_path / "r"))
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[1].startswith("unfinished  1,250/4,000   reslab train --model resnet20 ")
    assert "shortcut=B" in lines[1]
    assert lines[0].startswith("new                       reslab train --model resnet20 ")

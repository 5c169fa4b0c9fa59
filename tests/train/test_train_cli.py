"""User mistakes around ``reslab train`` end in one-line messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import TINY, run_reslab, subprocess_env


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet65"], "unknown model 'resnet65'; did you mean resnet56"),
        (["--recipe", "cifar-papr"], "unknown recipe 'cifar-papr'"),
        (["--set", "optim.lrr=1"], "unknown config key 'optim.lrr'; did you mean optim.lr"),
        (["--set", "optim.lr=fast"], "optim.lr must be of type float; got 'fast'"),
        (["--epochs", "2", "--iterations", "3"], "give --epochs or --iterations, not both"),
    ],
)
def test_bad_arguments(cli, tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = cli("train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), *args)
    assert code == 2
    assert message in err


def test_resume_needs_a_run(cli, tmp_path: Path) -> None:
    code, _, err = cli("train", "--resume", str(tmp_path))
    assert code == 2 and "nothing to resume" in err


def test_resume_of_a_damaged_config_names_the_line(cli, tmp_path: Path) -> None:
    """The trainer reads config.yaml as analysis does: bad YAML is one line, no traceback."""
    (tmp_path / "config.yaml").write_text("model:\n  name: resnet20\n  options: [\n")
    code, _, err = cli("train", "--resume", str(tmp_path))
    assert code == 2 and f"{tmp_path / 'config.yaml'}: not valid YAML at line" in err
    assert "Traceback" not in err


def test_resume_with_another_model_is_refused(tiny_data: Path, tmp_path: Path, cli) -> None:
    run = tmp_path / "run"
    run_reslab(
        "train",
        *TINY,
        "--data",
        str(tiny_data),
        "--out",
        str(run),
        "--iterations",
        "2",
        env=subprocess_env(tmp_path),
    )
    code, _, err = cli("train", "--resume", str(run), "--model", "resnet56")
    assert code == 2 and "was made with model 'resnet20'; --model resnet56 differs" in err
    code, _, err = cli("train", *TINY, "--data", str(tiny_data), "--out", str(run))
    assert code == 2 and "already holds a run" in err

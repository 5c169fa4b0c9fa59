"""Reading run directories: the contract's files, unfinished runs, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reslab.analysis.runs import (
    EVAL_KEYS,
    SUMMARY_KEYS,
    TRAIN_KEYS,
    canonical_options,
    display_name,
    find_runs,
    read_run,
)
from reslab.errors import ReslabError

from .rundirs import write_run


def test_fixture_follows_the_contract(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {frozenset(r) for r in records} == {TRAIN_KEYS, EVAL_KEYS}
    assert set(json.loads((run / "summary.json").read_text())) == SUMMARY_KEYS


def test_a_finished_run(tmp_path: Path) -> None:
    run = read_run(
        write_run(
            tmp_path / "run",
            model="resnet56",
            seed=3,
            iterations=2000,
            log_every=50,
            eval_every=500,
            test_err=7.0,
        )
    )
    assert (run.model, run.seed, run.recipe, run.budget) == ("resnet56", 3, "cifar-paper", "smoke")
    assert run.status == "finished" and run.finished
    assert run.label == "ResNet-56"
    assert run.train.rows == 40 and run.train["iteration"][-1] == 2000
    assert list(run.test["iteration"]) == [500, 1000, 1500, 2000]
    assert run.test_err == run.test["top1_err"][-1]
    assert run.command.startswith("reslab train --model resnet56")
    assert "JPEG" in run.data and run.env["hardware"] == "Test CPU (2 cores)"
    assert run.layer_stds is None


def test_an_unfinished_run_is_not_an_error(tmp_path: Path) -> None:
    path = write_run(tmp_path / "run", status=None, budget=None)
    with open(path / "metrics.jsonl", "a") as f:
        f.write('{"kind": "train", "iterat')  # killed mid-write
    run = read_run(path)
    assert run.status == "unfinished" and not run.finished and run.test_err is None
    assert run.budget == "custom" and run.command == run.env["command"]
    assert run.train.rows == 40


def test_the_command_is_the_train_line_that_ran_not_the_planned_one(tmp_path: Path) -> None:
    path = write_run(tmp_path / "run")
    planned = json.loads((path / "reproduce.json").read_text())["command"]
    env = json.loads((path / "env.json").read_text())
    ran = planned.replace(" --out", " --set run.precision=bf16 --out")
    (path / "env.json").write_text(json.dumps({**env, "command": ran}))
    assert read_run(path).command == ran
    # A run that `reslab reproduce` started: its train command is the planned one.
    started_by = "reslab reproduce cifar10-fig7 --budget medium --out x"
    (path / "env.json").write_text(json.dumps({**env, "command": started_by}))
    assert read_run(path).command == planned


def test_find_runs_walks_a_tree_in_order(tmp_path: Path) -> None:
    for name in ("b/resnet20/seed1", "a/plain20/seed0", "b/resnet20/seed0"):
        write_run(tmp_path / name)
    (tmp_path / "notes").mkdir()
    runs = find_runs(tmp_path)
    assert [r.path.relative_to(tmp_path).as_posix() for r in runs] == [
        "a/plain20/seed0",
        "b/resnet20/seed0",
        "b/resnet20/seed1",
    ]
    assert find_runs(tmp_path / "a/plain20/seed0")[0].model == "resnet20"
    with pytest.raises(ReslabError, match="no such directory"):
        find_runs(tmp_path / "missing")


def _corrupt(path: Path, file: str, text: str, mode: str = "w") -> None:
    with open(path / file, mode) as f:
        f.write(text)


@pytest.mark.parametrize(
    ("file", "text", "mode", "message"),
    [
        ("config.yaml", "model: [unclosed\n", "w", r"config.yaml: not valid YAML at line 2"),
        ("config.yaml", "recipe: cifar-paper\n", "w", r"config.yaml: missing key model.name"),
        ("metrics.jsonl", "{not json}\n", "a", r"metrics.jsonl:45: not valid JSON"),
        (
            "metrics.jsonl",
            '{"kind": "train", "iteration": 1}\n',
            "a",
            r"metrics.jsonl:45: train record lacks elapsed_s, epoch, images_per_s, lr",
        ),
        ("metrics.jsonl", '{"iteration": 1}\n', "a", r"metrics.jsonl:45: record without a 'kind'"),
        ("metrics.jsonl", '{"kind": "train", "iterat', "a", r"metrics.jsonl:45: not valid JSON"),
        ("summary.json", '{"status": "done"}', "w", r"summary.json: 'status' must be one of"),
        ("summary.json", "{", "w", r"summary.json: not valid JSON \(line 1"),
        ("responses.json", '{"std": ["a"]}', "w", r"responses.json: 'std' must be a list"),
    ],
)
def test_corrupt_files_are_named_with_the_line(
    tmp_path: Path, file: str, text: str, mode: str, message: str
) -> None:
    path = write_run(tmp_path / "run", iterations=2000, eval_every=500)  # 40 + 4 records
    _corrupt(path, file, text, mode)
    with pytest.raises(ReslabError, match=message):
        read_run(path)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ReslabError, match=r"not a run directory \(no config.yaml\)"):
        read_run(tmp_path)


def test_unknown_record_kinds_are_left_to_other_readers(tmp_path: Path) -> None:
    path = write_run(tmp_path / "run", iterations=2000)
    _corrupt(path, "metrics.jsonl", '{"kind": "event", "iteration": 5}\n', "a")
    assert read_run(path).train.rows == 40


@pytest.mark.parametrize(
    ("model", "options", "name"),
    [
        ("resnet20", {}, "ResNet-20"),
        ("resnet20", {"shortcut": "A", "num_classes": 10}, "ResNet-20"),
        ("resnet20", {"shortcut": "B"}, "ResNet-20 (shortcut B)"),
        ("plain56", {}, "plain-56"),
        ("resnet50", {"stride_on_1x1": True, "shortcut": "C"}, "ResNet-50 (shortcut C)"),
        ("preact_resnet110", {}, "pre-act ResNet-110"),
    ],
)
def test_names_drop_default_options(model: str, options: dict, name: str) -> None:
    assert display_name(model, canonical_options(model, options)) == name

"""The runner: which runs it trains, resumes or skips, and the smoke budget end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reslab.analysis.runs import find_runs
from reslab.reproduce import get_budget, get_experiment, plan, reproduce, run_status
from reslab.rundir import progress


def _write(path: Path, text: str = "{}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_run_status(tmp_path: Path) -> None:
    assert run_status(tmp_path / "none") == "new"
    _write(tmp_path / "a" / "config.yaml", "")
    assert run_status(tmp_path / "a") == "unfinished"
    for status in ("finished", "interrupted", "diverged"):
        _write(tmp_path / "a" / "summary.json", json.dumps({"status": status}))
        assert run_status(tmp_path / "a") == status
    # One vocabulary: the reproduce runner's and analysis's Run.status agree.
    from reslab.analysis.runs import read_run

    _write(tmp_path / "b" / "config.yaml", "model: {name: resnet20}\n")
    assert run_status(tmp_path / "b") == read_run(tmp_path / "b").status == "unfinished"


def test_progress_reads_the_last_logged_iteration(tmp_path: Path) -> None:
    run = tmp_path / "a"
    assert progress(run) == ""
    _write(run / "config.yaml", "model: {name: resnet20}\nschedule: {iterations: 16000}\n")
    _write(run / "metrics.jsonl", "")
    assert progress(run) == ""
    records = [{"kind": "train", "iteration": 4500}, {"kind": "eval", "iteration": 4550}]
    cut = '{"kind": "train", "itera'  # a kill while the line was written
    _write(run / "metrics.jsonl", "\n".join([*map(json.dumps, records), cut]))
    assert progress(run) == "4,550/16,000"
    _write(run / "config.yaml", "model: {name: resnet20}\nschedule: {epochs: 90}\n")
    assert progress(run) == "4,550"


def test_an_interrupted_run_is_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = plan(
        get_experiment("cifar10-fig7"), get_budget("short"), seeds=1, data="cifar10", out=tmp_path
    )[:1]
    _write(runs[0].run_dir / "config.yaml", "")
    _write(runs[0].run_dir / "summary.json", json.dumps({"status": "interrupted"}))
    calls = []

    def fake_launch(**kwargs):
        calls.append(kwargs)
        _write(kwargs["resume"] / "summary.json", json.dumps({"status": "finished"}))

    monkeypatch.setattr("reslab.train.launch.launch", fake_launch)
    monkeypatch.setattr("reslab.reproduce.runner._responses", lambda run_dir, echo: None)
    lines: list[str] = []
    outcomes = reproduce(get_experiment("cifar10-fig7"), runs, echo=lines.append)
    assert [(o.before, o.after) for o in outcomes] == [("interrupted", "finished")]
    assert calls[0]["resume"] == runs[0].run_dir and "resuming" in lines[0]


def test_dispatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """New runs start with reproduce.json written first; unfinished ones resume; finished
    and diverged ones are left alone."""
    runs = plan(
        get_experiment("cifar10-table6"), get_budget("short"), seeds=1, data="cifar10", out=tmp_path
    )
    done, diverged, started, *new = (r.run_dir for r in runs)
    _write(done / "config.yaml", "")
    _write(done / "summary.json", json.dumps({"status": "finished"}))
    _write(diverged / "config.yaml", "")
    _write(diverged / "summary.json", json.dumps({"status": "diverged"}))
    _write(started / "config.yaml", "")
    calls = []

    def fake_launch(**kwargs):
        calls.append(kwargs)
        run_dir = kwargs.get("resume") or kwargs["out"]
        if kwargs.get("resume") is None:
            assert json.loads((run_dir / "reproduce.json").read_text())["budget"] == "short"
        _write(run_dir / "config.yaml", "")
        _write(run_dir / "summary.json", json.dumps({"status": "finished"}))
        return {}

    monkeypatch.setattr("reslab.train.launch.launch", fake_launch)
    outcomes = reproduce(get_experiment("cifar10-table6"), runs, echo=lambda s: None)
    assert [o.before for o in outcomes] == ["finished", "diverged", "unfinished", "new", "new"]
    assert [o.after for o in outcomes] == [
        "finished",
        "diverged",
        "finished",
        "finished",
        "finished",
    ]
    assert calls[0]["resume"] == started
    assert [c["out"] for c in calls[1:]] == new
    assert calls[1]["iterations"] == 4000 and calls[1]["seed"] == 0
    reproduce_file = json.loads((started / "reproduce.json").read_text())
    assert reproduce_file["experiment"] == "cifar10-table6"
    assert reproduce_file["command"].startswith("reslab train --model resnet44 ")


def test_no_train_leaves_every_run_alone(tmp_path: Path, monkeypatch) -> None:
    runs = plan(
        get_experiment("cifar10-table6"), get_budget("short"), seeds=1, data="cifar10", out=tmp_path
    )
    _write(runs[0].run_dir / "config.yaml", "")
    monkeypatch.setattr("reslab.train.launch.launch", lambda **kw: pytest.fail("trained"))
    lines: list[str] = []
    outcomes = reproduce(get_experiment("cifar10-table6"), runs, train=False, echo=lines.append)
    assert [o.after for o in outcomes] == ["unfinished", "new", "new", "new", "new"]
    assert "not finished, left alone" in lines[0]
    assert all("not trained yet, left alone" in line for line in lines[1:])
    adopted = json.loads((runs[0].run_dir / "reproduce.json").read_text())
    assert adopted == {
        "experiment": "cifar10-table6",
        "budget": "short",
        "command": runs[0].command,
    }
    assert not runs[1].run_dir.exists()


def test_an_interrupted_run_stops_the_experiment(tmp_path, monkeypatch) -> None:
    from reslab.errors import ReslabError

    runs = plan(
        get_experiment("cifar10-fig7"), get_budget("short"), seeds=1, data="cifar10", out=tmp_path
    )
    monkeypatch.setattr(
        "reslab.train.launch.launch", lambda **kw: _write(kw["out"] / "config.yaml", "")
    )
    with pytest.raises(ReslabError, match="plain20-s0: interrupted; run the same command"):
        reproduce(get_experiment("cifar10-fig7"), runs, echo=lambda s: None)


@pytest.fixture(scope="module")
def smoke(real_source, tmp_path_factory: pytest.TempPathFactory):
    """Every experiment at the smoke budget on the real JPEG copy, into one folder, in the
    order a user would run them (later experiments reuse earlier runs)."""
    from reslab.reproduce import run_experiment

    out = tmp_path_factory.mktemp("reproduce")
    mp = pytest.MonkeyPatch()
    mp.setenv("RESLAB_DATA", str(real_source.root))
    mp.setenv("OMP_NUM_THREADS", "1")
    logs: dict[str, list[str]] = {}
    try:
        for name in (
            "cifar10-table6",
            "cifar10-fig6",
            "cifar10-fig7",
            "shortcuts",
            "imagenet-table1",
        ):
            logs[name] = []
            run_experiment(
                name, budget="smoke", data=str(real_source.path), out=out, echo=logs[name].append
            )
    finally:
        mp.undo()
    return out, logs


def test_smoke_trains_each_network_once(smoke) -> None:
    out, logs = smoke
    runs = find_runs(out)
    assert sorted(r.path.name for r in runs) == sorted(
        [
            "plain20-s0",
            "plain32-s0",
            "plain44-s0",
            "plain56-s0",
            "resnet20-s0",
            "resnet32-s0",
            "resnet44-s0",
            "resnet56-s0",
            "resnet110-s0",
            "resnet20-shortcutB-s0",
            "resnet20-shortcutC-s0",
        ]
    )
    assert all(r.finished for r in runs)
    assert sum("training" in line for line in logs["cifar10-fig6"]) == 4  # the plain nets
    assert sum("skipped" in line for line in logs["cifar10-fig7"]) == 5
    for run in runs:
        assert run.reproduce["budget"] == "smoke"
        assert run.summary["iterations"] == 4


def test_smoke_responses_for_fig7(smoke) -> None:
    out, _ = smoke
    for model in ("plain20", "plain56", "resnet20", "resnet56", "resnet110"):
        responses = json.loads((out / "smoke" / f"{model}-s0" / "responses.json").read_text())
        depth = int(model.removeprefix("plain").removeprefix("resnet"))
        assert len(responses["std"]) == depth - 1  # every 3x3 conv but the stem
        assert responses["images"] == 20
    assert not (out / "smoke" / "resnet32-s0" / "responses.json").exists()


def test_smoke_report_and_table1(smoke) -> None:
    out, _ = smoke
    report = (out / "report.md").read_text()
    assert "JPEG copy" in report
    assert "reslab train --model resnet110 --recipe cifar-paper" in report
    assert any(p.suffix == ".png" for p in (out / "figures").iterdir())
    table1 = (out / "table1.md").read_text()
    assert "| conv5_x | 7x7 |" in table1 and "152-layer" in table1

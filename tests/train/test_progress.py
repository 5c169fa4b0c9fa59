"""The training display: fits 80 columns, header once, resume line, ETA without start-up."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from reslab.train import progress as progress_mod
from reslab.train.progress import TrainProgress, clock

METRICS = {
    "lr": 0.1429,
    "train_loss": 1.234,
    "train_top1_err": 45.2,
    "test_top1_err": 40.12,
    "val_top1_err": 41.0,
    "images_per_s": 690.0,
}


def _render(p: TrainProgress, width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    with console.capture() as cap:
        console.print(progress_mod._Display(p))
    return cap.get().rstrip("\n").split("\n")


@pytest.mark.parametrize("width", [80, 100, 160])
def test_the_live_display_fits_the_terminal_and_keeps_the_essentials(width: int) -> None:
    p = TrainProgress(
        64_000, 0, title="preact_resnet1001 · cifar-paper", iters_per_epoch=390, enabled=False
    )
    p.update(12_345, METRICS, record=True)
    lines = _render(p, width)
    assert len(lines) == 2 and all(len(line) <= width for line in lines)
    assert "12,345/64,000" in lines[0] and "ep 31.7/164" in lines[0]
    assert "elapsed" in lines[1] and "ETA" in lines[1] and "test 40.12%" in lines[1]
    if width == 80:
        assert "img/s" not in lines[1]  # the lowest priority field gives way first
    if width == 160:
        assert "img/s 690" in lines[1]


def test_eta_counts_from_the_first_finished_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: now[0])
    p = TrainProgress(1000, 400, enabled=False, elapsed_before=50.0)
    now[0] = 160.0  # a minute of start-up (data, model, restore, first step)
    p.update(401)
    assert p.eta() is None  # one point: no rate yet
    now[0] = 170.0
    p.update(501)  # 100 iterations in 10 s
    assert p.eta() == pytest.approx(499 * 0.1)  # start-up not counted
    assert p.elapsed() == pytest.approx(50.0 + 70.0)  # the run's wall time, all sessions


def test_header_once_and_the_resume_line(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(file=io.StringIO(), width=80)
    with TrainProgress(
        600, 120, header=["model     resnet20"], console=console, iters_per_epoch=6
    ) as p:
        p.update(130, METRICS, record=True)
        p.update(140, METRICS, record=True)
    text = console.file.getvalue()
    assert text.count("model     resnet20") == 1
    assert "resuming from iteration 120 of 600" in text
    log = capsys.readouterr().err.splitlines()  # not a terminal: one line per record
    assert len(log) == 2 and log[1].startswith(" it 140/600 · ep 23.3/100")


def test_clock() -> None:
    assert (clock(0), clock(3725.4), clock(None)) == ("0:00:00", "1:02:05", "-:--:--")


def test_a_far_slower_cpu_warns_once_with_the_remedy() -> None:
    from reslab.train.progress import SlowdownWatch

    watch = SlowdownWatch(threads=2)
    rates = [150, 690, 680, 700, 600, 38, 15, 20]  # start-up, steady, then a loaded machine
    messages = [m for m in map(watch.check, rates) if m]
    assert len(messages) == 1
    assert "slowed to 38 img/s from 700" in messages[0]
    assert "OMP_WAIT_POLICY=PASSIVE (or OMP_NUM_THREADS=1) reslab train --resume" in messages[0]
    steady = SlowdownWatch(threads=2)
    assert not any(steady.check(r) for r in [100, 690, 400, 650, 300, 700])  # noise is fine


def test_the_warning_reaches_the_console() -> None:
    console = Console(file=io.StringIO(), width=200)
    with TrainProgress(100, 0, console=console, cpu_threads=2) as p:
        for i, rate in enumerate([100, 700, 700, 700, 50], start=1):
            p.update(i, {"images_per_s": rate}, record=True)
    assert console.file.getvalue().count("reslab: warning: training slowed") == 1

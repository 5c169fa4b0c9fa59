"""A Ctrl-C that lands in code which swallows its KeyboardInterrupt (torch's import of NumPy,
torch.compile's start-up) is not lost."""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reslab.interrupts import ctrl_c_pressed, hold_interrupts_while_importing, watching
from tests.train.conftest import write_image_folder

# Ctrl-C in the middle of code that drops whatever is raised in it.
SWALLOW = """
import os, signal, time
try:
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(200):
        time.sleep(0.001)  # Python runs the SIGINT handler here
except BaseException:
    pass  # as torch's C extension does with whatever NumPy's import raises
"""


@pytest.fixture
def swallower(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "swallower.py").write_text(SWALLOW + "IMPORTED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.delitem(sys.modules, "swallower", raising=False)
    return "swallower"


def test_unheld_the_interrupt_is_lost(swallower: str) -> None:
    assert importlib.import_module(swallower).IMPORTED  # what the hold is for


def test_held_the_interrupt_arrives_when_the_import_ends(swallower: str) -> None:
    hold_interrupts_while_importing(swallower)
    with pytest.raises(KeyboardInterrupt):
        importlib.import_module(swallower)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_held_an_import_without_interrupt_is_untouched(tmp_path: Path, swallower: str) -> None:
    (tmp_path / "quiet.py").write_text("VALUE = 3\n")
    finder = hold_interrupts_while_importing("quiet")
    assert hold_interrupts_while_importing("quiet") is finder
    assert importlib.import_module("quiet").VALUE == 3
    sys.modules.pop("quiet")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_swallowed_ctrl_c_is_remembered_until_the_next_watch() -> None:
    with watching():
        exec(SWALLOW)
        assert ctrl_c_pressed()
    with watching():
        assert not ctrl_c_pressed()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ``reslab train`` with a Ctrl-C that library code swallows at a chosen moment; without
# the CLI's guard each of these trains (or plans) on and exits 0.
NUMPY_INSIDE_TORCH = """
class CtrlCInsideTorch:
    pressed = False

    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and "torch" in sys.modules and not self.pressed:
            self.pressed = True  # once: a swallowed import of NumPy is retried later
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlCInsideTorch())
"""
BEFORE_THE_LOOP = """
import reslab.train.loop
build = reslab.train.loop.build_session

def build_then_swallow(*args, **kwargs):
    session = build(*args, **kwargs)
    exec(SWALLOW)
    return session

reslab.train.loop.build_session = build_then_swallow
"""
CLI = """
import os, signal, sys
SWALLOW = {swallow!r}
{setup}
from reslab.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize(
    ("setup", "more"),
    [(NUMPY_INSIDE_TORCH, ["--dry-run"]), (BEFORE_THE_LOOP, ["--iterations", "12"])],
    ids=["numpy-inside-torch", "before-the-loop"],
)
def test_reslab_train_stops_on_a_swallowed_ctrl_c(
    setup: str, more: list[str], tmp_path: Path
) -> None:
    data = write_image_folder(tmp_path / "data", {"train": 2, "test": 1})
    out = tmp_path / "run"
    script = textwrap.dedent(CLI).format(swallow=SWALLOW, setup=setup)
    args = ["train", "--data", data, "--out", out, "--device", "cpu"]
    args += ["--set", "optim.batch_size=4", "--set", "model.compile=false", *more]
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "checkpoints" / "latest.pt").exists()

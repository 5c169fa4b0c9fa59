"""Shared fixtures. The real data must exist: CI fails, never skips, without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RESLAB_SHARED", REPO.parent / "shared")) / "data"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def cifar10_jpeg() -> Path:
    """``../shared/data/cifar10-jpeg.tar.gz``: the real CIFAR-10 as JPEG files."""
    path = SHARED_DATA / "cifar10-jpeg.tar.gz"
    if not path.is_file():
        pytest.fail(f"real data missing: {path} (tests read it from ../shared/data)")
    return path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``reslab ARGS...`` in-process; returns (exit status, stdout, stderr)."""
    from reslab.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run

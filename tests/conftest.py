"""Shared fixtures. The real data must exist: CI fails, never skips, without it."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs a pytest worker per core: one thread each, as the subprocess tests
    # already use (OMP_NUM_THREADS=1), not as many threads per worker as there are cores.
    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RESLAB_SHARED", REPO.parent / "shared")) / "data"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def no_bf16_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU without AMX-BF16 and AVX-512-BF16, as reslab.bf16 probes it."""
    from reslab import bf16

    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    bf16.cpu_bf16_units.cache_clear()
    yield
    bf16.cpu_bf16_units.cache_clear()


@pytest.fixture(scope="session")
def cifar10_jpeg() -> Path:
    """``../shared/data/cifar10-jpeg.tar.gz``: the real CIFAR-10 as JPEG files."""
    path = SHARED_DATA / "cifar10-jpeg.tar.gz"
    if not path.is_file():
        pytest.fail(f"real data missing: {path} (tests read it from ../shared/data)")
    return path


@pytest.fixture(scope="session")
def real_source(cifar10_jpeg: Path, tmp_path_factory: pytest.TempPathFactory):
    """The real CIFAR-10 JPEG copy, opened and decoded once per session into a cold data
    root of its own (``real_source.root``), which later opens of the archive share."""
    from reslab.data import open_source

    source = open_source(cifar10_jpeg, root=tmp_path_factory.mktemp("real-root"))
    source.load("train")
    return source


REAL_TEST_PER_CLASS = 10  # real_run's test subset (100 images)


@pytest.fixture(scope="session")
def real_run(real_source, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory: ResNet-20, 20 iterations on 200 real training images, in
    bf16 on every machine (not ``auto``): evaluation must follow the arithmetic a run
    trained and was tested in, which fp32 would not tell apart."""
    from reslab.train.launch import launch

    run = tmp_path_factory.mktemp("real-run") / "run"
    summary = launch(
        model="resnet20",
        recipe="cifar-quick",
        data=str(real_source.path),
        out=run,
        iterations=20,
        sets=[
            f"data.root={real_source.root}",
            "data.train_subset_per_class=20",
            f"data.test_subset_per_class={REAL_TEST_PER_CLASS}",
            "optim.batch_size=32",
            "run.eval_every=20",
            "run.log_every=10",
            "run.checkpoint_every=20",
            "data.eval_batch_size=50",
            "model.channels_last=false",
            "data.normalization=per_pixel_mean",  # the paper's mean image
            "run.precision=bf16",
        ],
    )
    assert summary["status"] == "finished"
    return run


@pytest.fixture(scope="session")
def real_jpegs(cifar10_jpeg: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six real CIFAR-10 JPEG files, the first in the archive."""
    out = tmp_path_factory.mktemp("real-jpegs")
    files = []
    with tarfile.open(cifar10_jpeg) as tar:
        for member in tar:
            if member.isfile() and member.name.lower().endswith((".jpg", ".jpeg")):
                path = out / f"{len(files)}-{Path(member.name).name}"
                path.write_bytes(tar.extractfile(member).read())
                files.append(path)
                if len(files) == 6:
                    break
    assert len(files) == 6, f"{cifar10_jpeg} holds fewer than 6 JPEG files"
    return files


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


# A plausible Normalization.to_dict() (per-channel CIFAR-10 statistics, as plain lists).
NORMALIZATION = {
    "kind": "per_channel",
    "mean": [[[0.49]], [[0.48]], [[0.45]]],
    "std": [[[0.25]], [[0.24]], [[0.26]]],
}


@pytest.fixture
def make_checkpoint(tmp_path: Path):
    """Save a reslab checkpoint of a fresh model with trained-like BN statistics.

    ``make(name, input_size=32, path=None, **options) -> Path``; the BN running statistics
    come from a few train-mode passes over random images and the BN affine parameters are
    jittered, so that evaluation and BN folding see non-trivial values.
    """
    from reslab.checkpoint import FORMAT, save_atomic
    from reslab.evaluate.loading import CIFAR10_CLASSES
    from reslab.models import create_model

    def make(
        name: str = "resnet20", *, input_size: int = 32, path: Path | None = None, **options
    ) -> Path:
        model = create_model(name, **options)
        _calibrate_batchnorm(model, input_size)
        k = model.fc.out_features
        ckpt = {
            "format": FORMAT,
            "version": 1,
            "model": {"name": name, "options": options},
            "classes": list(CIFAR10_CLASSES) if k == 10 else [f"class_{i}" for i in range(k)],
            "normalization": NORMALIZATION,
            "input_size": input_size,
            "state_dict": model.state_dict(),
            "config": {},
            "iteration": 0,
        }
        path = path or tmp_path / f"{name}.pt"
        save_atomic(ckpt, path)
        return path

    return make


@torch.no_grad()
def _calibrate_batchnorm(model: torch.nn.Module, input_size: int) -> None:
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None  # a true average over the passes
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_(0.0, 0.1)
    model.train()
    for _ in range(2):
        model(torch.randn(8, model.conv1.in_channels, input_size, input_size))
    for bn in bns:
        bn.momentum = 0.1
    model.eval()

"""``reslab eval / predict / export`` on a raw akamaster/pytorch_resnet_cifar10 ``.th`` file:
scored as its authors scored it (their ImageNet per-channel normalisation), or with the
normalisation given on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from reslab.data.imageset import subset_indices
from reslab.data.normalization import IMAGENET_MEAN, IMAGENET_STD
from reslab.evaluate.loading import CIFAR10_CLASSES

from ..models.akamaster_ref import save_like_akamaster, trained_like

PER_CLASS = 5


def _reference_confusion(ref: torch.nn.Module, source, mean, std) -> list[list[int]]:
    """The confusion matrix (rows: true class) of the reference net on the test subset,
    normalised as torchvision's ``ToTensor()`` + ``Normalize(mean, std)`` do."""
    data = source.load(source.test_split)
    data = data.subset(subset_indices(data.labels, PER_CLASS, source.classes))
    x = data.images.permute(0, 3, 1, 2).double() / 255
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        pred = ref.double()(x).argmax(1)
    matrix = torch.zeros(10, 10, dtype=torch.int64)
    matrix.index_put_((data.labels, pred), torch.ones_like(pred), accumulate=True)
    return matrix.tolist()


def test_eval_scores_akamaster_weights_as_their_authors_did(cli, real_source, tmp_path) -> None:
    ref = trained_like(3, seed=1)
    th = save_like_akamaster(ref, tmp_path / "resnet20-12fca82f.th")
    args = [
        "eval",
        str(th),
        "--data",
        str(real_source.path),
        "--root",
        str(real_source.root),
        "--subset-per-class",
        str(PER_CLASS),
        "--device",
        "cpu",
        "--json",
    ]
    code, out, err = cli(*args, "--out", str(tmp_path / "e1"))
    assert code == 0, err
    record = json.loads(out)
    assert record["checkpoint"]["model"]["name"] == "resnet20"
    assert record["protocol"]["normalization"]["mean"] == torch.tensor(IMAGENET_MEAN).tolist()
    assert record["confusion_matrix"] == _reference_confusion(
        ref, real_source, IMAGENET_MEAN, IMAGENET_STD
    )

    code, out, err = cli(*args[:-1], "--out", str(tmp_path / "e0"))  # the table, no --json
    assert code == 0, err
    assert "resnet20 (foreign weights) on cifar10-jpeg test" in out

    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    given = f"{','.join(map(str, mean))}/{','.join(map(str, std))}"
    code, out, err = cli(*args, "--out", str(tmp_path / "e2"), "--normalization", given)
    assert code == 0, err
    record = json.loads(out)
    assert record["protocol"]["normalization"]["std"] == torch.tensor(std).tolist()
    assert record["confusion_matrix"] == _reference_confusion(ref, real_source, mean, std)


def test_predict_and_export_take_the_raw_file(cli, real_jpegs, tmp_path: Path) -> None:
    th = save_like_akamaster(trained_like(3), tmp_path / "resnet20-12fca82f.th")
    code, out, err = cli("predict", str(th), str(real_jpegs[0]), "--json", "--device", "cpu")
    assert code == 0, err
    top = json.loads(out)[0]["top"]
    assert len(top) == 5 and {t["class"] for t in top} <= set(CIFAR10_CLASSES)

    script = tmp_path / "r20.pt"
    code, out, err = cli(
        "export", str(th), "--format", "torchscript", "--out", str(script), "--json"
    )
    assert code == 0, err
    sidecar = json.loads(out)
    assert sidecar["model"] == {
        "name": "resnet20",
        "options": {"shortcut": "A", "num_classes": 10, "in_chans": 3},
    }
    assert sidecar["normalization"]["kind"] == "per_channel"
    assert sidecar["source"]["checkpoint"] == str(th)


def test_bad_normalization_and_unknown_layouts_are_one_line_errors(
    cli, real_jpegs, tmp_path: Path
) -> None:
    th = save_like_akamaster(trained_like(3), tmp_path / "w.th")
    code, _, err = cli("predict", str(th), str(real_jpegs[0]), "--normalization", "0.5,0.5")
    assert code == 2 and "normalization '0.5,0.5' gives 2 means" in err
    code, _, err = cli("predict", str(th), str(real_jpegs[0]), "--normalization", "cifar")
    assert code == 2 and "expected imagenet or MEAN,MEAN,MEAN/STD,STD,STD" in err
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"features.0.weight": torch.zeros(1)}}, other)
    code, _, err = cli("eval", str(other), "--data", "cifar10")
    assert code == 2 and "other.pth: not a reslab checkpoint" in err
    assert "akamaster/pytorch_resnet_cifar10" in err

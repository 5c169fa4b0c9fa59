"""Table 1 generated from the model zoo: measured sizes, block shapes, multiply-adds."""

from __future__ import annotations

import pytest

from reslab.analysis.architecture import architecture, table1, table1_markdown

# The paper's Table 1, as printed there (per stage: output size; conv2_x of each model).
SIZES = {
    "conv1": (112, 112),
    "conv2_x": (56, 56),
    "conv3_x": (28, 28),
    "conv4_x": (14, 14),
    "conv5_x": (7, 7),
}
CONV2 = {
    "resnet18": "[3x3, 64; 3x3, 64] x 2",
    "resnet34": "[3x3, 64; 3x3, 64] x 3",
    "resnet50": "[1x1, 64; 3x3, 64; 1x1, 256] x 3",
    "resnet101": "[1x1, 64; 3x3, 64; 1x1, 256] x 3",
    "resnet152": "[1x1, 64; 3x3, 64; 1x1, 256] x 3",
}
CONV4_UNITS = {"resnet18": 2, "resnet34": 6, "resnet50": 6, "resnet101": 23, "resnet152": 36}


@pytest.mark.parametrize("name", CONV2)
def test_architecture_matches_table1(name: str) -> None:
    arch = architecture(name)
    assert {s.name: s.output_size for s in arch.stages} == SIZES
    stages = {s.name: s.layers for s in arch.stages}
    assert stages["conv1"] == ("7x7, 64, stride 2",)
    assert stages["conv2_x"] == ("3x3 max pool, stride 2", CONV2[name])
    assert stages["conv4_x"][0].endswith(f"x {CONV4_UNITS[name]}")
    assert arch.head_size == (1, 1) and arch.head == "average pool, 1000-d fc, softmax"
    assert arch.paper_macs is not None
    assert arch.macs == pytest.approx(arch.paper_macs, rel=0.025)


def test_renderings() -> None:
    archs = table1(("resnet18", "resnet50"))
    text = table1_markdown(archs)
    assert text.splitlines()[0] == "| layer name | output size | 18-layer | 50-layer |"
    rows = text.splitlines()
    assert rows[6] == (
        "| conv5_x | 7x7 | [3x3, 512; 3x3, 512] x 2 | [1x1, 512; 3x3, 512; 1x1, 2048] x 3 |"
    )
    assert rows[8] == (
        "| mult-adds |  | 1.81 x 10^9 (paper 1.8 x 10^9) | 3.86 x 10^9 (paper 3.8 x 10^9) |"
    )
    assert rows[7] == (
        "|  | 1x1 | average pool, 1000-d fc, softmax | average pool, 1000-d fc, softmax |"
    )
    assert rows[9:] == ["", rows[-1]] and rows[-1].startswith("Output sizes and multiply-adds")

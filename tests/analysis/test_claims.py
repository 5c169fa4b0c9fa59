"""The claim checks on synthetic data that should pass, that should fail, and with runs
missing; then all of them from run directories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reslab.analysis.claims import (
    check_claims,
    deeper_resnets_better,
    deeper_responses_smaller,
    degradation,
    late_mean,
    overfits_at_1202,
    pooled_std,
    projection_shortcuts_help,
    residual_fixes_degradation,
    residual_responses_smaller,
    seed_noise,
    spearman,
)
from reslab.analysis.runs import find_runs

ITERS = np.arange(50, 64_001, 50)


def curve(final: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A training curve from 90 % down to ``final`` %, with noise and a spike early on."""
    rng = np.random.default_rng(seed)
    err = final + (90 - final) * np.exp(-ITERS / 8000) + rng.normal(0, 0.3, len(ITERS))
    err[len(err) // 2] = 60.0  # one bad record mid-run must not matter
    return ITERS, err


def test_late_mean_averages_the_last_records() -> None:
    x = np.arange(1, 101)
    assert late_mean((x, x.astype(float)), tail=0.05) == pytest.approx(np.mean(x[x >= 95]))
    assert late_mean((x[:1], np.array([7.0]))) == 7.0
    assert np.isnan(late_mean((np.zeros(0), np.zeros(0))))


@pytest.mark.parametrize(("plain56", "expected"), [(8.0, True), (2.5, False)])
def test_degradation(plain56: float, expected: bool) -> None:
    curves = {"plain20": [curve(3.0, 0), curve(3.2, 1)], "plain56": [curve(plain56, 2)]}
    claim = degradation(curves)
    assert claim.reproduced is expected
    assert "plain-56" in claim.evidence and "(2 seeds)" in claim.evidence
    assert claim.reference == "Sec. 4.2, Fig. 6 (left)"


def test_degradation_needs_both_runs() -> None:
    claim = degradation({"plain20": [curve(3.0)]})
    assert claim.reproduced is None and claim.evidence == "needs finished runs of plain-56"
    assert claim.verdict == "not tested"


@pytest.mark.parametrize(("resnet56", "expected"), [(1.0, True), (9.0, False)])
def test_residual_fixes_degradation(resnet56: float, expected: bool) -> None:
    claim = residual_fixes_degradation({"plain56": [curve(8.0)], "resnet56": [curve(resnet56)]})
    assert claim.reproduced is expected


PAPER = {
    "resnet20": [8.75],
    "resnet32": [7.51],
    "resnet44": [7.17],
    "resnet56": [6.97],
    "resnet110": [6.43, 6.61, 6.79],
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),  # the paper's Table 6
        ({"resnet44": [6.9]}, True),  # one adjacent pair out of order: rho -0.9, tolerated
        ({"resnet32": [6.5], "resnet56": [7.6]}, False),  # no trend: rho -0.3
        ({"resnet110": [9.0]}, False),  # the deepest is worse than the shallowest
        ({"resnet32": [], "resnet44": []}, True),  # fewer depths still decide
    ],
)
def test_deeper_resnets_better(changes: dict, expected: bool) -> None:
    claim = deeper_resnets_better({**PAPER, **changes})
    assert claim.reproduced is expected
    assert "Spearman rho" in claim.evidence


def test_deeper_resnets_better_needs_20_and_110() -> None:
    claim = deeper_resnets_better({k: v for k, v in PAPER.items() if k != "resnet110"})
    assert claim.reproduced is None and "ResNet-110" in claim.evidence


@pytest.mark.parametrize(("err1202", "expected"), [([7.93], True), ([6.0], False), ([], None)])
def test_overfits_at_1202(err1202: list, expected: bool | None) -> None:
    assert overfits_at_1202({"resnet110": [6.43], "resnet1202": err1202}).reproduced is expected


def _stds(mean: float, layers: int) -> np.ndarray:
    return mean + 0.2 * np.sin(np.arange(layers))


@pytest.mark.parametrize(("resnet56", "expected"), [(0.8, True), (1.6, False)])
def test_residual_responses_smaller(resnet56: float, expected: bool) -> None:
    responses = {
        "plain20": [_stds(1.5, 19)],
        "resnet20": [_stds(1.0, 19), _stds(1.1, 19)],
        "plain56": [_stds(1.4, 55)],
        "resnet56": [_stds(resnet56, 55)],
    }
    claim = residual_responses_smaller(responses)
    assert claim.reproduced is expected
    assert claim.evidence.startswith("mean layer std ResNet-20 ")
    assert " vs plain-56 " in claim.evidence


def test_residual_responses_need_a_pair() -> None:
    claim = residual_responses_smaller({"resnet20": [_stds(1.0, 19)]})
    assert claim.reproduced is None


@pytest.mark.parametrize(
    ("means", "expected"),
    [
        ((1.2, 0.8, 0.5), True),
        ((1.2, 0.5, 0.8), False),
        ((0.5, 0.8, 1.2), False),
        ((1.2, None, 0.5), True),
        ((1.2, 0.8, None), None),  # the deepest net, named in the claim, has no responses
        ((1.2, None, None), None),
    ],
)
def test_deeper_responses_smaller(means: tuple, expected: bool | None) -> None:
    models = ("resnet20", "resnet56", "resnet110")
    responses = {m: [_stds(v, 19)] for m, v in zip(models, means, strict=True) if v is not None}
    assert deeper_responses_smaller(responses).reproduced is expected


@pytest.mark.parametrize(
    ("errs", "expected"),
    [
        ({"A": [9.0], "B": [8.8], "C": [8.7]}, True),
        ({"A": [8.7], "B": [8.8], "C": [8.6]}, False),
        ({"A": [9.0], "B": [8.8]}, None),
    ],
)
def test_projection_shortcuts_help(errs: dict, expected: bool | None) -> None:
    claim = projection_shortcuts_help(errs)
    assert claim.reproduced is expected
    assert "ImageNet with ResNet-34" in claim.statement


def test_spearman() -> None:
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [5, 5, 5]) == 0.0
    assert spearman([1, 2, 3], [1, 1, 2]) == pytest.approx(np.sqrt(3) / 2)  # ties averaged


def test_pooled_std_weights_groups_by_their_degrees_of_freedom() -> None:
    assert pooled_std([[1.0, 3.0], [5.0]]) == pytest.approx(np.sqrt(2))
    assert pooled_std([[1.0, 3.0], [4.0, 5.0, 6.0]]) == pytest.approx(np.sqrt((2 + 2) / 3))
    assert pooled_std([[1.0], [5.0]]) is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"A": [9.0], "B": [8.0]}, "one seed per model: how much of them is seed noise is not"),
        ({"A": [9.0, 9.4], "B": [9.1, 9.5]}, "every gap is within 2 stds: seed noise"),
        ({"A": [9.0, 9.1], "B": [7.0, 7.1]}, "the largest gap is beyond seed noise"),
    ],
)
def test_seed_noise(values: dict, says: str) -> None:
    text = seed_noise(values)
    assert says in text and "A - B = " in text


@pytest.mark.parametrize(
    ("train", "says"),
    [
        ([3.0, 3.5, 4.0, 4.5, 5.0], "Training error does not fall with depth either"),
        ([3.0, 2.5, 2.0, 1.5, 1.0], "Training error does fall with depth"),
    ],
)
def test_depth_not_reproduced_is_told_under_from_over_fitting(train: list, says: str) -> None:
    test_errs = {**PAPER, "resnet110": [9.0]}  # the deepest tests worst
    train_errs = {m: [t] for m, t in zip(PAPER, train, strict=True)}
    claim = deeper_resnets_better(test_errs, train_errs=train_errs)
    assert claim.reproduced is False and claim.diagnosis.startswith(says)
    assert "ResNet-110 5.00" in claim.diagnosis or "ResNet-110 1.00" in claim.diagnosis
    assert deeper_resnets_better(PAPER, train_errs=train_errs).diagnosis == ""


def test_responses_not_reproduced_are_told_a_few_layers_from_the_bulk() -> None:
    few = _stds(0.8, 109)
    few[-3:] = 9.0  # three huge layers lift ResNet-110's mean above ResNet-56's
    responses = {"resnet20": [_stds(1.2, 19)], "resnet56": [_stds(1.0, 55)], "resnet110": [few]}
    claim = deeper_responses_smaller(responses)
    assert claim.reproduced is False
    assert claim.diagnosis.startswith("The median layer std does follow the paper's order")
    assert "ResNet-110 9.00" in claim.diagnosis  # its largest layer

    responses["resnet110"] = [_stds(1.5, 109)]
    train = {"resnet20": [2.0], "resnet56": [2.5], "resnet110": [4.0]}
    claim = deeper_responses_smaller(responses, train_errs=train)
    assert claim.diagnosis.startswith("The median layer std does not follow it either")
    assert "the less trained ones here (training error ResNet-20 2.00" in claim.diagnosis


def test_shortcuts_not_reproduced_are_weighed_against_seed_noise() -> None:
    claim = projection_shortcuts_help({"A": [8.7, 8.9], "B": [8.8, 8.6], "C": [8.9, 8.7]})
    assert claim.reproduced is False
    assert "seed noise, not a resolved difference" in claim.diagnosis
    assert "Table 3" in claim.diagnosis
    assert projection_shortcuts_help({"A": [9.0], "B": [8.8], "C": [8.7]}).diagnosis == ""


def test_claims_from_run_directories(study: Path) -> None:
    claims = {c.key: c for c in check_claims(find_runs(study))}
    assert {k: c.reproduced for k, c in claims.items()} == {
        "degradation": True,
        "residual_fixes_degradation": True,
        "deeper_resnets_better": True,
        "overfits_at_1202": None,  # its run has not finished
        "residual_responses_smaller": True,
        "deeper_responses_smaller": True,
        "projection_shortcuts_help": True,  # A 8.9 and 9.0, B 8.6, C 8.4
    }
    assert all(c.diagnosis == "" for c in claims.values())

"""Learning-rate schedules against the paper's milestones (pure functions of the step)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from reslab.errors import OptionError
from reslab.train.config import finalize, from_dict, resolve
from reslab.train.schedules import ScheduleEvents, lr_at, plateaued, warmup_applies

IPE = 390  # CIFAR-10: 50,000 images / batch 128


def _schedule(recipe: str, length=None, **sets):
    config = resolve(recipe, sets=[f"schedule.{k}={v}" for k, v in sets.items()])
    return finalize(config, IPE, length).schedule


@pytest.mark.parametrize(
    ("step", "lr"),
    [(0, 0.1), (31_999, 0.1), (32_000, 0.01), (47_999, 0.01), (48_000, 0.001), (63_999, 0.001)],
)
def test_cifar_paper_divides_by_ten_at_32k_and_48k(step: int, lr: float) -> None:
    s = _schedule("cifar-paper")
    assert s.iterations == 64_000
    assert lr_at(step, s, 0.1, ScheduleEvents()) == pytest.approx(lr)


def test_resnet110_warms_up_at_0_01_until_the_error_falls_below_80_percent() -> None:
    s = _schedule("cifar-paper")
    assert warmup_applies(s, depth=110) and warmup_applies(s, depth=1202)
    assert not warmup_applies(s, depth=56)
    assert lr_at(350, s, 0.1, ScheduleEvents(warmup_end=None)) == 0.01
    events = ScheduleEvents(warmup_end=400)
    assert lr_at(399, s, 0.1, events) == 0.01
    assert lr_at(400, s, 0.1, events) == 0.1
    assert lr_at(32_000, s, 0.1, events) == pytest.approx(0.01)


@pytest.mark.parametrize("length", [None, ("iterations", 4_000)])
def test_preact_recipe_warms_up_every_depth_for_a_fixed_400_iterations(length) -> None:
    """2016, Appendix: lr 0.01 for the first 400 iterations of every CIFAR run, then 0.1;
    a shorter budget scales the milestones but not the warm-up."""
    s = _schedule("cifar-preact-paper", length)
    assert s.warmup_iterations == 400 and not warmup_applies(s, depth=20)
    events = ScheduleEvents()  # nothing recorded: the warm-up is a function of the step
    assert [lr_at(i, s, 0.1, events) for i in (0, 399, 400)] == [0.01, 0.01, 0.1]
    assert lr_at(s.milestones[0], s, 0.1, events) == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("length", "milestones"),
    [
        (("iterations", 8_000), (4_000, 6_000)),
        (("iterations", 128_000), (64_000, 96_000)),
        (("epochs", 20), (3_900, 5_850)),
    ],
)
def test_shorter_or_longer_schedules_scale_the_milestones(length, milestones) -> None:
    s = _schedule("cifar-paper", length)
    assert s.milestones == milestones
    assert s.iterations == (length[1] if length[0] == "iterations" else length[1] * IPE)


def test_epoch_recipes_become_iterations() -> None:
    s = _schedule("cifar-quick")
    assert (s.iterations, s.epochs) == (12 * IPE, None)
    assert s.warmup_iterations == 702  # 15 % of 4,680
    assert _schedule("cifar-quick", ("epochs", 7)).warmup_iterations == 410


# Iterations per epoch of a 10-image folder, a 5,000-image folder and CIFAR-10 (batch 128).
SIZES = {"tiny": 1, "small": 39, "cifar": IPE}


@pytest.mark.parametrize("recipe", ["cifar-quick", "cifar-fast"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("length", [None, ("iterations", 200), ("epochs", 2)])
def test_warmup_scales_with_the_run_on_any_dataset_size(recipe, size, length) -> None:
    config = resolve(recipe)
    s = finalize(config, SIZES[size], length).schedule
    w, total = s.warmup_iterations, s.iterations
    assert 1 <= w < total
    assert w == max(1, round(config.schedule.warmup_fraction * total))
    lrs = [lr_at(i, s, 0.2, ScheduleEvents()) for i in range(total)]
    assert max(lrs) == pytest.approx(0.2)  # the peak is reached inside the run
    assert lrs[-1] < 0.2 / 2 or total <= 2  # and the decay runs after it


def test_the_issue_cases_no_longer_end_at_the_peak() -> None:
    # 5,000 images, 7 epochs: 273 iterations, warm-up 41 (a fixed 350 was past the end).
    s = finalize(resolve("cifar-quick"), 39, ("epochs", 7)).schedule
    assert (s.iterations, s.warmup_iterations) == (273, 41)
    # 10 images, --iterations 200: warm-up 30 (was 5,833); lr at iteration 5 is 6/30 of 0.2.
    s = finalize(resolve("cifar-quick"), 1, ("iterations", 200)).schedule
    assert s.warmup_iterations == 30
    assert lr_at(5, s, 0.2, ScheduleEvents()) == pytest.approx(0.2 * 6 / 30)


@pytest.mark.parametrize("recipe", ["cifar-quick", "cifar-fast", "cifar-paper"])
def test_a_finalized_config_reads_back_and_finalizes_to_itself(recipe) -> None:
    # config.yaml holds the finalized config; --resume reads and finalizes it again.
    once = finalize(resolve(recipe), 39)
    again = from_dict(once.to_dict())
    assert finalize(again, 39) == once


def test_the_paper_schedule_scales_to_a_two_iteration_run() -> None:
    s = finalize(resolve("cifar-paper"), 1, ("iterations", 2)).schedule
    assert (s.iterations, s.milestones) == (2, (1, 2))  # the last never applies: harmless


def test_paper_schedule_is_unchanged_on_small_data() -> None:
    # Its length is in iterations: the data size changes the epochs, not the schedule.
    for ipe in SIZES.values():
        s = finalize(resolve("cifar-paper"), ipe).schedule
        assert (s.iterations, s.milestones, s.warmup) == (64_000, (32_000, 48_000), "until_error")


def test_warmup_in_iterations_replaces_the_recipes_fraction() -> None:
    config = resolve("cifar-quick", sets=["schedule.warmup_iterations=100"])
    assert (config.schedule.warmup_fraction, config.schedule.warmup_iterations) == (0.0, 100)
    assert finalize(config, IPE).schedule.warmup_iterations == 100
    config = resolve("cifar-quick", sets=["schedule.iterations=500"])  # replaces 12 epochs
    assert (config.schedule.iterations, config.schedule.epochs) == (500, None)


@pytest.mark.parametrize(
    ("recipe", "sets", "length", "message"),
    [
        (
            "cifar-quick",
            ["schedule.warmup_iterations=5000"],
            None,
            "the linear warm-up (5000 iterations) is not shorter than the run (4680 iterations)",
        ),
        (
            "cifar-paper",
            ["schedule.milestones=[32000, 70000]"],
            ("iterations", 800),
            "schedule.milestones [32000, 70000] lie after the end of the schedule (64000 "
            "iterations): [70000] would never apply",
        ),
        (
            "cifar-quick",
            [],
            ("epochs", 0.1),
            "the schedule has 0 iterations (--epochs 0.1 at 1 iterations per epoch)",
        ),
        (
            "cifar-quick",
            ["schedule.warmup_fraction=1.5"],
            None,
            "schedule.warmup_fraction must be in [0, 1); got 1.5",
        ),
        (
            "cifar-quick",
            ["schedule.warmup_fraction=0"],
            None,
            "schedule.warmup 'linear' needs exactly one of schedule.warmup_fraction",
        ),
    ],
)
def test_schedules_outside_the_run_are_clear_errors(recipe, sets, length, message) -> None:
    with pytest.raises(OptionError, match=re.escape(message)):
        finalize(resolve(recipe, sets=sets), IPE if length is None else 1, length)


def test_linear_warmup_then_cosine_to_zero() -> None:
    s = _schedule("cifar-fast")
    ev = ScheduleEvents()
    w, total = s.warmup_iterations, s.iterations
    ramp = [lr_at(i, s, 0.2, ev) for i in range(w)]
    assert ramp == sorted(ramp) and ramp[-1] == pytest.approx(0.2)
    decay = [lr_at(i, s, 0.2, ev) for i in range(w, total)]
    assert decay == sorted(decay, reverse=True)
    assert decay[0] == pytest.approx(0.2) and decay[-1] < 1e-5
    mid = w + (total - w) // 2
    assert lr_at(mid, s, 0.2, ev) == pytest.approx(0.1, rel=0.01)


def test_onecycle_peaks_at_the_end_of_warmup() -> None:
    s = _schedule("cifar-quick")
    lrs = [lr_at(i, s, 0.2, ScheduleEvents()) for i in range(s.iterations)]
    assert max(lrs) == pytest.approx(0.2)
    assert lrs.index(max(lrs)) in (s.warmup_iterations - 1, s.warmup_iterations)
    assert lrs[-1] == pytest.approx(0.2 / (s.iterations - s.warmup_iterations))


def test_plateau_drops_follow_the_recorded_events() -> None:
    s = _schedule("imagenet-paper")
    assert s.kind == "plateau"
    ev = ScheduleEvents(drops=(150_000, 300_000))
    assert lr_at(149_999, s, 0.1, ev) == pytest.approx(0.1)
    assert lr_at(150_000, s, 0.1, ev) == pytest.approx(0.01)
    assert lr_at(400_000, s, 0.1, ev) == pytest.approx(0.001)


def test_plateau_detection() -> None:
    s = replace(_schedule("imagenet-paper"), plateau_patience=3, plateau_threshold=0.1)
    assert not plateaued([50, 40, 35, 31, 30.5, 30.2], s)  # still improving by > 0.1
    assert plateaued([50, 40, 30.0, 30.05, 29.95, 30.2], s)  # best of last 3 beats 30 by < 0.1
    assert not plateaued([50, 40, 30], s)  # too few evaluations to tell


def test_imagenet_steps_variant() -> None:
    s = _schedule("imagenet-paper-steps")
    assert s.kind == "steps" and s.milestones == (150_000, 300_000, 450_000)
    assert s.iterations == 600_000
    assert lr_at(450_000, s, 0.1, ScheduleEvents()) == pytest.approx(1e-4)

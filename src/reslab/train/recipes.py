"""Named recipes: overrides of the :mod:`reslab.train.config` defaults, as plain data.

The defaults of the dataclasses are the paper's CIFAR values; a recipe states every value
it relies on anyway, so that it reads as a complete description of the protocol.
"""

from __future__ import annotations

import copy
from typing import Any

from reslab.errors import unknown
from reslab.paper import CIFAR_ITERATIONS, CIFAR_MILESTONES

RECIPES: dict[str, dict[str, Any]] = {
    # He et al. 2015, Sec. 4.2: SGD, momentum 0.9, weight decay 1e-4, batch 128 on 2 GPUs,
    # lr 0.1 divided by 10 at 32k and 48k iterations, stop at 64k (determined on a 45k/5k
    # split: --set data.val_split=5000); per-pixel mean subtraction, 4-pixel padding with a
    # random 32x32 crop and horizontal flip; no dropout. For 110 layers, lr 0.01 until the
    # training error is below 80 % (about 400 iterations), then back to 0.1.
    "cifar-paper": {
        "description": "The paper's CIFAR protocol (Sec. 4.2): 64k iterations, lr /10 at 32k, 48k.",
        "data": {"normalization": "per_pixel_mean", "augment": True},
        "optim": {
            "lr": 0.1,
            "momentum": 0.9,
            "nesterov": False,
            "weight_decay": 1e-4,
            "batch_size": 128,
            "label_smoothing": 0.0,
            "ema_decay": None,
        },
        "schedule": {
            "kind": "steps",
            "iterations": CIFAR_ITERATIONS,
            "epochs": None,
            "milestones": list(CIFAR_MILESTONES),
            "gamma": 0.1,
            "warmup": "until_error",
            "warmup_lr": 0.01,
            "warmup_until_err": 80.0,
            "warmup_min_depth": 110,
        },
        "run": {"log_every": 50, "eval_every": 0, "checkpoint_every": 1000},
    },
    # He et al. 2016 (Identity Mappings), Appendix: the 2015 CIFAR protocol, but every run
    # (not only the deepest) warms up at lr 0.01 for the first 400 iterations, then 0.1.
    "cifar-preact-paper": {
        "description": "2016 paper's CIFAR protocol: cifar-paper + lr 0.01 for the first 400 its.",
        "base": "cifar-paper",
        "schedule": {
            "warmup": "constant",
            "warmup_iterations": 400,
            "warmup_lr": 0.01,
            "warmup_min_depth": 0,
        },
    },
    # He et al. 2015, Sec. 3.4: batch 256, lr 0.1 divided by 10 when the error plateaus,
    # up to 60e4 iterations, weight decay 1e-4, momentum 0.9, no dropout; scale augmentation
    # (shorter side in [256, 480], 224 crop, flip), AlexNet's PCA colour augmentation and
    # 10-crop testing (`reslab eval --protocol 10crop`). The paper subtracts the per-pixel
    # mean, without dividing by a std; on large images of many sizes reslab subtracts the
    # per-channel mean (data.normalization=per_channel also divides by the std, as
    # fb.resnet.torch and torchvision do: a departure, docs/departures.md).
    "imagenet-paper": {
        "description": "The paper's ImageNet protocol (Sec. 3.4): lr /10 on plateaus, 600k its.",
        "data": {
            "normalization": "per_pixel_mean",
            "augment": True,
            "color_pca": True,
            "eval_batch_size": 250,
        },
        "optim": {
            "lr": 0.1,
            "momentum": 0.9,
            "nesterov": False,
            "weight_decay": 1e-4,
            "batch_size": 256,
            "label_smoothing": 0.0,
            "ema_decay": None,
        },
        "schedule": {
            "kind": "plateau",
            "iterations": 600_000,
            "epochs": None,
            "milestones": [],
            "gamma": 0.1,
            "warmup": "none",
            "plateau_patience": 3,
            "plateau_threshold": 0.1,
        },
        "run": {"log_every": 100, "eval_every": 5_000, "checkpoint_every": 2_500},
    },
    # The fixed-milestone variant common in re-implementations (e.g. fb.resnet.torch):
    # lr /10 every quarter of the 600k iterations (about 30 epochs of ImageNet each).
    "imagenet-paper-steps": {
        "description": "Sec. 3.4 with fixed lr steps at 150k/300k/450k instead of plateaus.",
        "base": "imagenet-paper",
        "schedule": {"kind": "steps", "milestones": [150_000, 300_000, 450_000]},
    },
    # Not the paper: a short modern recipe for small budgets (one-cycle, Nesterov, label
    # smoothing). ResNet-20 on CIFAR-10 in 7.6 minutes (457 s) on a quiet 2-core CPU with
    # bf16 units, to 15.33 % test error (results/main-job, with its log).
    "cifar-quick": {
        "description": "Not the paper: 12 epochs, one-cycle, Nesterov, label smoothing (CPU demo).",
        "data": {"normalization": "per_channel", "augment": True},
        "optim": {
            "lr": 0.2,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
            "batch_size": 128,
            "label_smoothing": 0.1,
            "ema_decay": None,
        },
        "schedule": {
            "kind": "onecycle",
            "iterations": None,
            # About 10 minutes of the 2-core CPU with bf16 units (results/main-job); it was 7
            # epochs when that CPU trained in fp32.
            "epochs": 12,
            "milestones": [],
            # 15 % of the run: 702 of CIFAR-10's 4,680 iterations (it was a fixed
            # 350, which outlasted runs on small datasets).
            "warmup": "linear",
            "warmup_fraction": 0.15,
        },
        "run": {"log_every": 25, "eval_every": 0, "checkpoint_every": 250},
    },
    # Not the paper: the same ingredients at 30 epochs with cosine decay and EMA weights.
    "cifar-fast": {
        "description": "Not the paper: 30 epochs, cosine, Nesterov, label smoothing, EMA.",
        "data": {"normalization": "per_channel", "augment": True},
        "optim": {
            "lr": 0.2,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
            "batch_size": 256,
            "label_smoothing": 0.1,
            "ema_decay": 0.999,
        },
        "schedule": {
            "kind": "cosine",
            "iterations": None,
            "epochs": 30,
            "milestones": [],
            # 7 % of the run: 410 of CIFAR-10's 5,850 iterations (a fixed 400 before).
            "warmup": "linear",
            "warmup_fraction": 0.07,
        },
        "run": {"log_every": 50, "eval_every": 0, "checkpoint_every": 500},
    },
}


def recipe_overrides(name: str) -> dict[str, Any]:
    """The recipe's config overrides, with ``base`` recipes merged in first."""
    if name not in RECIPES:
        raise unknown("recipe", name, RECIPES)
    recipe = copy.deepcopy(RECIPES[name])
    base = recipe.pop("base", None)
    recipe.pop("description", None)
    if base is None:
        return recipe
    merged = recipe_overrides(base)
    for section, values in recipe.items():
        merged[section] = {**merged.get(section, {}), **values}
    return merged


def describe_recipes() -> dict[str, str]:
    return {name: recipe["description"] for name, recipe in RECIPES.items()}

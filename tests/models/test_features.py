"""Backbones: ``features_only=True`` returns the stage outputs with timm-style metadata, and
a reslab ResNet-50 drops into torchvision's detection stack (BackboneWithFPN + FasterRCNN)."""

from __future__ import annotations

import pytest
import torch
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN

from reslab.errors import OptionError
from reslab.models import create_model


@pytest.mark.parametrize(
    ("name", "channels", "reduction", "size"),
    [
        ("resnet50", [256, 512, 1024, 2048], [4, 8, 16, 32], 64),
        ("resnet18", [64, 128, 256, 512], [4, 8, 16, 32], 64),
        ("resnet20", [16, 32, 64], [1, 2, 4], 32),
        ("preact_resnet20", [16, 32, 64], [1, 2, 4], 32),
    ],
)
def test_stage_outputs_and_their_metadata(name, channels, reduction, size) -> None:
    body = create_model(name, features_only=True).eval()
    assert body.feature_info.channels() == channels
    assert body.feature_info.reduction() == reduction
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        outs = body(x)
    assert [o.shape[1] for o in outs] == channels
    assert [size // o.shape[-1] for o in outs] == reduction


def test_the_last_stage_is_what_the_classifier_pools() -> None:
    for name in ("resnet20", "preact_resnet20"):
        net = create_model(name).eval()
        body = create_model(name, features_only=True)
        body.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("fc.")})
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(body.eval()(x)[-1], net.forward_features(x))


def test_stem_index_and_names_follow_timm() -> None:
    body = create_model("resnet50", features_only=True, out_indices=(0, 2, 4))
    assert body.feature_info.module_name() == ["relu", "layer2", "layer4"]
    assert body.feature_info.reduction() == [2, 8, 32]
    assert [o.shape[1] for o in body(torch.randn(1, 3, 64, 64))] == [64, 512, 2048]
    short = create_model("resnet50", features_only=True, out_indices=(1, 2))
    assert not hasattr(short, "layer3")  # stages past the last output are not kept


def test_intermediate_layer_getter_sees_the_same_outputs() -> None:
    body = create_model("resnet18", features_only=True).eval()
    names = body.feature_info.module_name()
    getter = IntermediateLayerGetter(body, {n: n for n in names})
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for ours, theirs in zip(body(x), getter(x).values(), strict=True):
            torch.testing.assert_close(ours, theirs)


def test_bad_out_indices() -> None:
    with pytest.raises(OptionError, match=r"out_indices must be .* 0 \(stem\) \.\. 3"):
        create_model("resnet20", features_only=True, out_indices=(1, 4))
    with pytest.raises(OptionError, match="out_indices selects backbone outputs"):
        create_model("resnet20", out_indices=(1, 2))


def test_resnet50_drops_into_torchvision_faster_rcnn() -> None:
    torch.manual_seed(0)
    body = create_model("resnet50", features_only=True)
    info = body.feature_info
    backbone = BackboneWithFPN(
        body,
        return_layers={name: str(i) for i, name in enumerate(info.module_name())},
        in_channels_list=info.channels(),
        out_channels=64,
    )
    detector = FasterRCNN(
        backbone,
        num_classes=3,
        min_size=128,
        max_size=160,
        rpn_pre_nms_top_n_train=200,
        rpn_post_nms_top_n_train=50,
        rpn_batch_size_per_image=32,
        box_batch_size_per_image=32,
    ).train()  # small images and few samples: a CPU test
    images = [torch.rand(3, 128, 150), torch.rand(3, 144, 128)]
    targets = [
        {"boxes": torch.tensor([[10.0, 20.0, 70.0, 90.0]]), "labels": torch.tensor([1])},
        {
            "boxes": torch.tensor([[5.0, 5.0, 50.0, 40.0], [60.0, 60.0, 120.0, 130.0]]),
            "labels": torch.tensor([2, 1]),
        },
    ]
    losses = detector(images, targets)
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grad = body.layer1[0].conv1.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0

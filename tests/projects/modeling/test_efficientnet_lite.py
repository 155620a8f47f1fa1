"""EfficientNet-Lite as a Detectron2 backbone: output names, channels and strides, freezing, config errors."""
import math

import pytest
import torch

from detectron2.layers import FrozenBatchNorm2d
from detectron2.modeling import BACKBONE_REGISTRY, build_backbone

from projects.config import default_config
from projects.modeling.efficientnet.trunk import LEVEL_STRIDES, EfficientNetLite, scale_width

ALL_LEVELS = ("res2", "res3", "res4", "res5")


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_outputs_match_output_shape_at_strides_8_16_32(variant):
    model = EfficientNetLite(variant, out_features=ALL_LEVELS, norm="BN").eval()
    height, width = 97, 130  # not multiples of 32: TF "SAME" gives ceil(size / stride)
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, height, width))
    shapes = model.output_shape()
    assert list(outputs) == list(ALL_LEVELS) == list(shapes)
    for name, feature in outputs.items():
        stride = shapes[name].stride
        assert stride == LEVEL_STRIDES[name]
        assert feature.shape == (2, shapes[name].channels, math.ceil(height / stride), math.ceil(width / stride))
    assert [shapes[n].stride for n in ("res3", "res4", "res5")] == [8, 16, 32]
    assert shapes["res5"].channels == 1280  # the unscaled Lite head


def test_width_multiplier_scales_stage_channels_but_not_stem_or_head():
    lite0 = EfficientNetLite("lite0", out_features=ALL_LEVELS).output_shape()
    lite2 = EfficientNetLite("lite2", out_features=ALL_LEVELS).output_shape()
    assert (lite0["res3"].channels, lite0["res4"].channels) == (40, 112)
    assert (lite2["res3"].channels, lite2["res4"].channels) == (scale_width(40, 1.1), scale_width(112, 1.1)) == (48, 120)
    assert lite0["res5"].channels == lite2["res5"].channels == 1280


def test_depth_multiplier_adds_blocks_except_in_first_and_last_stage():
    lite0, lite2 = EfficientNetLite("lite0"), EfficientNetLite("lite2")
    repeats = lambda m: [len(getattr(m, f"stage{i}")) for i in range(1, 8)]  # noqa: E731
    assert repeats(lite0) == [1, 2, 2, 3, 3, 4, 1]
    assert repeats(lite2) == [1, 3, 3, 4, 4, 5, 1]  # ceil(1.2 x) inside, first/last unscaled


def test_only_the_stages_up_to_the_last_requested_level_are_built():
    model = EfficientNetLite("lite0", out_features=("res3",))
    assert hasattr(model, "stage3") and not hasattr(model, "stage4") and not hasattr(model, "conv_head")
    assert list(model(torch.randn(1, 3, 64, 64))) == ["res3"]


@pytest.mark.parametrize("freeze_at, frozen", [(0, []), (1, ["stem"]), (2, ["stem", "stage1", "stage2"]),
                                               (5, ["stem"] + [f"stage{i}" for i in range(1, 8)] + ["conv_head"])])
def test_freeze_at_freezes_like_the_resnet_path(freeze_at, frozen):
    model = EfficientNetLite("lite0", out_features=ALL_LEVELS, norm="BN", freeze_at=freeze_at)
    for name, module in model.named_children():
        trainable = any(p.requires_grad for p in module.parameters())
        frozen_norms = any(isinstance(m, FrozenBatchNorm2d) for m in module.modules())
        assert trainable == (name not in frozen), name
        assert frozen_norms == (name in frozen), name


def test_norm_keeps_the_weights_epsilon():
    model = EfficientNetLite("lite0", norm="FrozenBN")
    assert isinstance(model.stem.norm, FrozenBatchNorm2d) and model.stem.norm.eps == 1e-3


def test_registered_and_built_from_config():
    assert "build_efficientnet_lite_backbone" in BACKBONE_REGISTRY
    cfg = default_config()
    cfg.MODEL.BACKBONE.NAME = "build_efficientnet_lite_backbone"
    cfg.MODEL.EFFICIENTNET.OUT_FEATURES = ["res3", "res4", "res5"]
    cfg.MODEL.EFFICIENTNET.VARIANT = "lite1"
    cfg.MODEL.BACKBONE.FREEZE_AT = 2
    backbone = build_backbone(cfg)
    assert isinstance(backbone, EfficientNetLite) and backbone.variant == "lite1"
    assert {n: s.stride for n, s in backbone.output_shape().items()} == {"res3": 8, "res4": 16, "res5": 32}
    assert not any(p.requires_grad for p in backbone.stage2.parameters())


@pytest.mark.parametrize("kwargs, words", [({"variant": "lite9"}, "MODEL.EFFICIENTNET.VARIANT"),
                                           ({"out_features": ("res6",)}, "MODEL.EFFICIENTNET.OUT_FEATURES"),
                                           ({"norm": ""}, "MODEL.EFFICIENTNET.NORM")])
def test_bad_settings_fail_with_one_line_naming_the_key(kwargs, words):
    with pytest.raises(ValueError) as error:
        EfficientNetLite(**kwargs)
    assert words in str(error.value) and "\n" not in str(error.value)

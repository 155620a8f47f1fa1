"""DC5 as the official code builds it: Detectron2's ResNet-50 with torchvision's dilation rule computes
torchvision's ``resnet50(replace_stride_with_dilation=[False, False, True])`` on the same weights."""
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_resnet_backbone

from projects.checkpoint.rules import backbone_rules, convert_state_dict
from projects.config import load_config
from projects.modeling.backbone import build_resnet_torchvision_dilation_backbone
from projects.utils.errors import ConfigError
from tests.harness.tolerances import assert_close

ROOT = Path(__file__).resolve().parents[3]
BUILDER = "build_resnet_torchvision_dilation_backbone"


def resnet50_cfg(res5_dilation=2):
    """Detectron2's ResNet-50 in the torchvision layout (stride in the 3x3 conv), nothing frozen."""
    cfg = get_cfg()
    cfg.MODEL.RESNETS.DEPTH = 50
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
    cfg.MODEL.RESNETS.NORM = "FrozenBN"
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res5"]
    cfg.MODEL.RESNETS.RES5_DILATION = res5_dilation
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    return cfg


def randomized(model):
    """``model`` with random BN statistics and affines (the default 0/1 would hide a wrong mapping), eval mode."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            shape = module.running_mean.shape
            module.running_mean.copy_(0.1 * torch.randn(shape, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(shape, generator=generator))
            module.weight.data.copy_(0.5 + 0.5 * torch.rand(shape, generator=generator))
            module.bias.data.copy_(0.1 * torch.randn(shape, generator=generator))
    return model.eval()


@pytest.fixture(scope="module")
def torchvision_dc5():
    """torchvision's DC5 ResNet-50 (random weights, eval) and its trunk's weights in Detectron2's names."""
    torch.manual_seed(0)
    with torch.no_grad():
        model = randomized(torchvision.models.resnet50(replace_stride_with_dilation=[False, False, True]))
    weights = {k: v for k, v in model.state_dict().items()
               if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    trunk = nn.Sequential(*list(model.children())[:-2])  # up to layer4 (res5): no pooling, no fc
    return trunk, convert_state_dict(weights, backbone_rules("", ""))


@pytest.fixture(scope="module")
def image():
    return torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))


def detectron2_res5(builder, weights, image):
    """res5 of ``builder``'s ResNet-50 with ``weights`` loaded strictly: [1, 2048, H/16, W/16]."""
    backbone = builder(resnet50_cfg(), ShapeSpec(channels=3)).eval()
    backbone.load_state_dict(weights, strict=True)
    with torch.no_grad():
        return backbone(image)["res5"]


def test_matches_torchvision_dc5(torchvision_dc5, image):
    trunk, weights = torchvision_dc5
    with torch.no_grad():
        expected = trunk(image)
    actual = detectron2_res5(build_resnet_torchvision_dilation_backbone, weights, image)
    assert actual.shape == expected.shape == (1, 2048, 4, 6)  # stride 16
    assert float(expected.abs().mean()) > 0.1  # O(1) features: the tolerance below is meaningful
    assert_close(actual, expected)  # float32 model output, different conv algorithms


def test_detectron2_rule_differs_from_torchvision(torchvision_dc5, image):
    """Detectron2's own RES5_DILATION (every res5 block dilated) does not compute the official DC5."""
    trunk, weights = torchvision_dc5
    with torch.no_grad():
        expected = trunk(image)
    actual = detectron2_res5(build_resnet_backbone, weights, image)
    assert float((actual - expected).abs().max()) > 1e-2


def test_undilated_res5_is_detectron2_resnet():
    cfg = resnet50_cfg(res5_dilation=1)
    backbone = build_resnet_torchvision_dilation_backbone(cfg, ShapeSpec(channels=3))
    assert [block.conv2.dilation for block in backbone.res5] == [(1, 1)] * 3
    assert backbone.output_shape()["res5"].stride == 32


def test_deformable_res5_is_rejected():
    cfg = resnet50_cfg()
    cfg.MODEL.RESNETS.DEFORM_ON_PER_STAGE = [False, False, False, True]
    with pytest.raises(ConfigError, match="DEFORM_ON_PER_STAGE"):
        build_resnet_torchvision_dilation_backbone(cfg, ShapeSpec(channels=3))


DILATED_CONFIGS = [p for p in sorted((ROOT / "configs").rglob("*.yaml")) if "RES5_DILATION" in p.read_text()]


def test_dilated_configs_exist():
    assert any("dc5" in p.name.lower() for p in DILATED_CONFIGS)


@pytest.mark.parametrize("path", DILATED_CONFIGS, ids=lambda p: p.name)
def test_dc5_configs_dilate_as_torchvision(path):
    """Every config that dilates res5 does it as the official code (torchvision), not as Detectron2."""
    cfg = load_config(str(path))
    if cfg.MODEL.RESNETS.RES5_DILATION != 1:
        assert cfg.MODEL.BACKBONE.NAME == BUILDER

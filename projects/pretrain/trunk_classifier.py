"""The trunk being pretrained: a Detectron2 ResNet with a global-pool multi-label head on res5."""
import torch
from torch import nn

from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone.resnet import build_resnet_backbone

from projects.config import add_detr_config

# The detector configs' input statistics (configs/Base-DETR.yaml): RGB, ImageNet mean/std on 0..255.
INPUT_FORMAT = "RGB"
PIXEL_MEAN = (123.675, 116.280, 103.530)
PIXEL_STD = (58.395, 57.120, 57.375)


def trunk_config(depth: int = 18):
    """A config whose MODEL.RESNETS describe the embedded detectors' trunk (torchvision-style ResNet,
    trainable BatchNorm while pretraining; the detectors freeze it)."""
    cfg = get_cfg()
    add_detr_config(cfg)
    cfg.MODEL.PIXEL_MEAN = list(PIXEL_MEAN)
    cfg.MODEL.PIXEL_STD = list(PIXEL_STD)
    cfg.INPUT.FORMAT = INPUT_FORMAT
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64 if depth in (18, 34) else 256
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
    cfg.MODEL.RESNETS.NORM = "BN"
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res5"]
    return cfg


class TrunkClassifier(nn.Module):
    """ResNet trunk -> global average pool of res5 -> one logit per class."""

    def __init__(self, cfg, num_classes: int):
        super().__init__()
        self.trunk = build_resnet_backbone(cfg, ShapeSpec(channels=3))
        channels = self.trunk.output_shape()["res5"].channels
        self.head = nn.Linear(channels, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: [B, 3, H, W] normalised -> logits [B, num_classes]."""
        features = self.trunk(images)["res5"]
        return self.head(features.mean(dim=(2, 3)))

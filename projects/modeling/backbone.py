"""Backbone adapter: any Detectron2 backbone -> per-level (feature map, padding mask) pairs; and
Detectron2's ResNet with res5 dilated as torchvision (the official DETR family) dilates it."""
from typing import List, Tuple

import torch
from torch import nn

from detectron2.modeling import BACKBONE_REGISTRY, Backbone, build_backbone, build_resnet_backbone

from projects.layers.levels import downsample_mask
from projects.utils.errors import ConfigError


class MaskedBackbone(nn.Module):
    """Runs a Detectron2 backbone and pairs each requested level with its padding mask.

    ``num_channels`` and ``strides`` list the selected levels in order, so heads can be sized from
    any backbone (ResNet-18 ... ResNet-101, DC5, or a stub in tests).
    """

    def __init__(self, backbone: Backbone, in_features: List[str]):
        super().__init__()
        shapes = backbone.output_shape()
        missing = [name for name in in_features if name not in shapes]
        if missing:
            raise ValueError(
                f"Backbone outputs {sorted(shapes)} but the model asks for {missing}; "
                "check MODEL.RESNETS.OUT_FEATURES / MODEL.DETR.IN_FEATURES."
            )
        self.body = backbone
        self.in_features = list(in_features)
        self.num_channels = [shapes[name].channels for name in in_features]
        self.strides = [shapes[name].stride for name in in_features]

    def single_level_channels(self, method, hint="set MODEL.DETR.IN_FEATURES to one level"):
        """Channels of the only level; a ValueError naming ``method`` when more levels are selected."""
        if len(self.num_channels) != 1:
            raise ValueError(f"{method} uses one feature level, got {len(self.num_channels)} "
                             f"({self.in_features}); {hint}")
        return self.num_channels[0]

    def forward(self, images, pixel_mask) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """images: [B, 3, H, W]; pixel_mask: [B, H, W] bool -> [(feature [B, C_l, h_l, w_l], mask [B, h_l, w_l])]."""
        outputs = self.body(images)
        levels = []
        for name in self.in_features:
            feature = outputs[name]
            levels.append((feature, downsample_mask(pixel_mask, feature.shape[-2:])))
        return levels


def build_masked_backbone(cfg, in_features):
    """Build ``cfg.MODEL.BACKBONE`` through Detectron2's registry and wrap it."""
    return MaskedBackbone(build_backbone(cfg), in_features)


@BACKBONE_REGISTRY.register()
def build_resnet_torchvision_dilation_backbone(cfg, input_shape):
    """Detectron2's ResNet (``build_resnet_backbone``, same keys and shapes) with torchvision's dilation rule.

    torchvision's ``replace_stride_with_dilation=[False, False, True]`` (the DC5 of the official DETR and
    Conditional DETR code) drops res5's stride but keeps dilation 1 in the first res5 block's
    3x3 conv; only the later blocks use dilation 2. Detectron2's ``RES5_DILATION: 2`` dilates every
    res5 block. With ``RES5_DILATION: 1`` this is ``build_resnet_backbone`` unchanged.
    """
    if cfg.MODEL.RESNETS.RES5_DILATION != 1 and cfg.MODEL.RESNETS.DEFORM_ON_PER_STAGE[3]:
        raise ConfigError("build_resnet_torchvision_dilation_backbone: torchvision's dilation rule has no "
                         "deformable res5; set MODEL.RESNETS.DEFORM_ON_PER_STAGE[3] to False")
    resnet = build_resnet_backbone(cfg, input_shape)
    if cfg.MODEL.RESNETS.RES5_DILATION != 1 and hasattr(resnet, "res5"):
        undilate_first_block(resnet.res5)
    return resnet


def undilate_first_block(stage: nn.Sequential) -> None:
    """Give the first block's 3x3 conv dilation 1 (padding 1: same output size), in place.

    torchvision's ``_make_layer`` builds a dilated stage's first block with the previous dilation
    (1 for res5) and the rest with the new one; the weights are unchanged.
    """
    conv = stage[0].conv2
    conv.dilation = (1, 1)
    conv.padding = tuple((k - 1) // 2 for k in conv.kernel_size)

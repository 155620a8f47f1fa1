"""Backbone adapter: any Detectron2 backbone -> per-level (feature map, padding mask) pairs."""
from typing import List, Tuple

import torch
from torch import nn

from detectron2.modeling import Backbone, build_backbone

from projects.layers.levels import downsample_mask


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

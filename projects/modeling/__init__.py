"""The model side of the shared core: what every DETR-family meta-architecture is built from.

meta_arch     ``DETRBase``: image/target handling, losses and inference of a set-prediction detector
single_level  ``SingleLevelDETRBase``: one backbone level, learned queries (DETR, single-scale methods)
backbone      ``MaskedBackbone``: any Detectron2 backbone -> per-level (feature, padding mask)
class_loss    the class-loss vocabulary ("softmax" / "focal") and its one check
criterion     ``SetCriterion`` (+ two-stage) and ``build_criterion`` from MODEL.DETR
matcher       ``HungarianMatcher``
postprocess   detection selection and box scaling at inference
denoising/    DN-DETR / DINO denoising: query builders, attention mask, output split, ``DenoisingCriterion``
              (import from ``projects.modeling.denoising``)
efficientnet/ the ImageNet EfficientNet-Lite trunk: ``trunk`` (``EfficientNetLite``, registered
              ``build_efficientnet_lite_backbone``, MODEL.EFFICIENTNET), ``fpn`` (Detectron2's FPN over it),
              ``weights`` (the packaged ImageNet weights: safe read, renaming), ``classifier`` (1000-class
              head and the preprocessing the weights were trained with)

Public names (importable from ``projects.modeling``): DETRBase, SingleLevelDETRBase, pack_outputs,
MaskedBackbone, build_masked_backbone, EfficientNetLite, add_efficientnet_config, SetCriterion, TwoStageSetCriterion, build_criterion,
HungarianMatcher, CLASS_LOSSES, check_class_loss.
"""
from projects.modeling.backbone import MaskedBackbone, build_masked_backbone
from projects.modeling.class_loss import CLASS_LOSSES, check_class_loss
from projects.modeling.efficientnet import EfficientNetLite, add_efficientnet_config
from projects.modeling.criterion import SetCriterion, TwoStageSetCriterion, build_criterion
from projects.modeling.matcher import HungarianMatcher
from projects.modeling.meta_arch import DETRBase, pack_outputs
from projects.modeling.single_level import SingleLevelDETRBase

__all__ = [
    "CLASS_LOSSES",
    "DETRBase",
    "EfficientNetLite",
    "HungarianMatcher",
    "MaskedBackbone",
    "SetCriterion",
    "SingleLevelDETRBase",
    "TwoStageSetCriterion",
    "add_efficientnet_config",
    "build_criterion",
    "build_masked_backbone",
    "check_class_loss",
    "pack_outputs",
]

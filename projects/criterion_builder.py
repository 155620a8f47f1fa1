"""Build the shared matcher + set criterion from ``cfg.MODEL.DETR``."""
from .config import class_loss_from_config
from .criterion import SetCriterion, TwoStageSetCriterion, make_weight_dict
from .matcher import HungarianMatcher


def build_criterion(cfg, two_stage=False):
    """SetCriterion (or the two-stage variant with ``_enc`` losses) configured by MODEL.DETR."""
    detr = cfg.MODEL.DETR
    class_loss = class_loss_from_config(cfg)
    matcher = HungarianMatcher(
        cost_class=detr.COST_CLASS, cost_bbox=detr.COST_BBOX, cost_giou=detr.COST_GIOU,
        class_cost=class_loss, focal_alpha=detr.FOCAL_ALPHA, focal_gamma=detr.FOCAL_GAMMA,
    )
    weight_dict = make_weight_dict(
        class_weight=detr.CLASS_WEIGHT, bbox_weight=detr.L1_WEIGHT, giou_weight=detr.GIOU_WEIGHT,
        num_aux_layers=detr.DEC_LAYERS - 1 if detr.DEEP_SUPERVISION else 0, with_enc=two_stage,
    )
    criterion_class = TwoStageSetCriterion if two_stage else SetCriterion
    return criterion_class(
        num_classes=detr.NUM_CLASSES, matcher=matcher, weight_dict=weight_dict, class_loss=class_loss,
        eos_coef=detr.NO_OBJECT_WEIGHT, focal_alpha=detr.FOCAL_ALPHA, focal_gamma=detr.FOCAL_GAMMA,
    )

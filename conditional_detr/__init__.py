"""Conditional DETR (Meng et al., ICCV 2021) for Detectron2.

Importing this package registers the ``ConditionalDETR`` meta-architecture. Typical use::

    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from conditional_detr import add_conditional_detr_config

    cfg = get_cfg()
    add_conditional_detr_config(cfg)
    cfg.merge_from_file("configs/conditional_detr/conditional_detr_r50_50ep.yaml")
    model = build_model(cfg)
"""
from .conditional_detr import ConditionalDETR, boxes_from_reference
from .config import add_conditional_detr_config
from .convert import NotConditionalDETRError, convert_conditional_detr_state_dict
from .transformer import ConditionalTransformer

__all__ = [
    "ConditionalDETR",
    "ConditionalTransformer",
    "NotConditionalDETRError",
    "add_conditional_detr_config",
    "boxes_from_reference",
    "convert_conditional_detr_state_dict",
]

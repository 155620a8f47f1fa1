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
from .conditional_detr import ConditionalDETR
from .config import add_conditional_detr_config
from .convert import convert_conditional_detr_state_dict  # importing registers the official-checkpoint converter
from .transformer import ConditionalTransformer, build_conditional_detr_transformer, make_conditional_detr_transformer
from .method import METHOD  # registers the method (projects.registry)

__all__ = [
    "METHOD",
    "ConditionalDETR",
    "ConditionalTransformer",
    "add_conditional_detr_config",
    "build_conditional_detr_transformer",
    "convert_conditional_detr_state_dict",
    "make_conditional_detr_transformer",
]

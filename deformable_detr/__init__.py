"""Deformable DETR (Zhu et al., ICLR 2021) for Detectron2.

Importing this package registers the ``DeformableDETR`` meta-architecture. Typical use::

    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from deformable_detr import add_deformable_detr_config

    cfg = get_cfg()
    add_deformable_detr_config(cfg)
    cfg.merge_from_file("configs/deformable_detr/deformable_detr_r50_50ep.yaml")
    model = build_model(cfg)
"""
from .config import add_deformable_detr_config
from .convert import (  # importing registers the official-checkpoint converter
    PAPER_VARIANTS, DeformableVariant, convert_deformable_detr_state_dict, detect_variant,
)
from .deformable_detr import DeformableDETR
from .transformer import DeformableTransformer
from .method import METHOD  # registers the method (projects.registry)

__all__ = [
    "METHOD",
    "PAPER_VARIANTS",
    "DeformableDETR",
    "DeformableTransformer",
    "DeformableVariant",
    "add_deformable_detr_config",
    "convert_deformable_detr_state_dict",
    "detect_variant",
]

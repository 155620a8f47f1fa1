"""Shared core of the DETR family for Detectron2.

Importing this package registers the baseline ``DETR`` meta-architecture. Typical use::

    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from projects import add_detr_config

    cfg = get_cfg()
    add_detr_config(cfg)
    cfg.merge_from_file("configs/detr/detr_r50_300ep.yaml")
    model = build_model(cfg)
"""
from projects.config import add_detr_config
from projects.detr import DETR
from projects.modeling.meta_arch import DETRBase, pack_outputs

__all__ = ["add_detr_config", "DETR", "DETRBase", "pack_outputs"]

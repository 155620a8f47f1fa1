"""Config keys of Conditional DETR (``MODEL.CONDITIONAL_DETR``) on top of the shared ``MODEL.DETR`` node.

The shared keys keep the DETR defaults (so every method's defaults can live in one config); the
Conditional DETR values (300 queries, focal loss, costs/weights 2/5/2) are set by
configs/conditional_detr/Base-ConditionalDETR.yaml.
"""
from detectron2.config import CfgNode as CN

from projects.config import add_detr_config


def add_conditional_detr_config(cfg):
    """Add the shared DETR-family keys and the Conditional DETR node (idempotent)."""
    add_detr_config(cfg)
    if "CONDITIONAL_DETR" in cfg.MODEL:
        return
    cfg.MODEL.CONDITIONAL_DETR = CN()
    # prior probability of every class at initialisation: class bias = -log((1 - p) / p) (official 0.01)
    cfg.MODEL.CONDITIONAL_DETR.PRIOR_PROB = 0.01

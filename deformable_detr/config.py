"""Config keys of Deformable DETR (``MODEL.DEFORMABLE_DETR``)."""
from detectron2.config import CfgNode as CN

from projects.config import add_detr_config


def add_deformable_detr_config(cfg):
    """Add the shared ``MODEL.DETR`` keys and Deformable DETR's own node (idempotent).

    MODEL.DEFORMABLE_DETR:
        NUM_FEATURE_LEVELS: levels seen by the transformer. The first ``len(MODEL.DETR.IN_FEATURES)``
            come from the backbone; each further level is a stride-2 3x3 conv (official: on the raw
            last backbone map, then on the previous projected level). 1 = single-scale, 4 = multi-scale.
        ENC_N_POINTS, DEC_N_POINTS: sampling points per head and level in encoder / decoder attention.
        WITH_BOX_REFINE: iterative bounding-box refinement (one head per decoder layer, each layer
            refines the previous layer's detached box).
        TWO_STAGE: encoder proposals on every token; the top NUM_OBJECT_QUERIES become the queries.
        ATTENTION_IMPL: "auto" (compiled op when built, else the PyTorch reference) or "reference".
    """
    add_detr_config(cfg)
    if "DEFORMABLE_DETR" in cfg.MODEL:
        return
    cfg.MODEL.DEFORMABLE_DETR = CN()
    node = cfg.MODEL.DEFORMABLE_DETR
    node.NUM_FEATURE_LEVELS = 4
    node.ENC_N_POINTS = 4
    node.DEC_N_POINTS = 4
    node.WITH_BOX_REFINE = False
    node.TWO_STAGE = False
    node.ATTENTION_IMPL = "auto"

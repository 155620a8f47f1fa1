"""SMCA config keys (``MODEL.SMCA``), on top of the shared ``MODEL.DETR`` keys."""
from detectron2.config import CfgNode as CN

from projects.config import add_detr_config


def add_smca_config(cfg):
    """Add ``MODEL.SMCA`` (and the shared DETR-family keys) to a Detectron2 config (idempotent).

    MODEL.SMCA:
        SCALE_MODE: width of the Gaussian-like prior (paper Table 2; official ``--dynamic_scale``):
            "fixed" (type1: one constant width), "single" (type2: one predicted scale per head),
            "independent" (type3: predicted width and height scales per head; the paper's default).
        HEAD_SHARED: one centre and one scale for all heads (paper's head-shared ablation rows; the
            official code has only the multi-head form, i.e. False).
        SMOOTH: beta of the Gaussian, log G = -(s_x^2 dx^2 + s_y^2 dy^2) / beta (official ``smooth``).
        ENCODER_BLOCKS: multi-scale only: "intra" (self-attention within each scale, one set of
            weights for all scales) or "multi" (self-attention over all scales' tokens) per encoder
            block, in order. Paper Table 3: 2Intra-Multi-2Intra (default), 3Intra, 3Multi, 5Intra.
            MODEL.DETR.ENC_LAYERS must equal its length.
        SCALE_SELECTION: multi-scale only: per-scale softmax weighted by predicted scale weights
            (paper Eq. 7-9); False = one softmax over the tokens of all scales (Table 3 "w/o SSA").
        SHARED_SCALE_PROJECTIONS: multi-scale only: one key/value projection for all scales instead
            of one per scale.
        EXTRA_LEVELS: multi-scale only: coarser levels made by 3x3 stride-2 convolutions after the
            last backbone level (1: res4/res5 -> strides 16/32/64, the paper's scales).
    """
    add_detr_config(cfg)
    if "SMCA" in cfg.MODEL:
        return
    cfg.MODEL.SMCA = CN()
    smca = cfg.MODEL.SMCA
    smca.SCALE_MODE = "independent"
    smca.HEAD_SHARED = False
    smca.SMOOTH = 8.0
    smca.ENCODER_BLOCKS = ["intra", "intra", "multi", "intra", "intra"]
    smca.SCALE_SELECTION = True
    smca.SHARED_SCALE_PROJECTIONS = False
    smca.EXTRA_LEVELS = 1

"""Config keys of DAB-DETR (``MODEL.DAB_DETR``) and of its denoising training (``MODEL.DN``, DN-DETR).

The shared ``MODEL.DETR`` keys keep the DETR defaults; the DAB-DETR values (300 queries, focal loss,
class weight 1, costs 2/5/2) are set by configs/dab_detr/Base-DABDETR.yaml.
"""
from detectron2.config import CfgNode as CN

from projects.config import add_detr_config


def add_dab_detr_config(cfg):
    """Add the shared DETR-family keys, ``MODEL.DAB_DETR`` and ``MODEL.DN`` (idempotent).

    MODEL.DAB_DETR:
        PRIOR_PROB: initial class probability (class bias = -log((1 - p) / p)).
        ACTIVATION: the transformer FFN activation: "prelu" (official single-scale DAB-DETR) or "relu"
            (the deformable model hard-codes relu).
        POSITION_TEMPERATURE: temperature of the image position encoding (official single-scale: 20 for
            both axes; the deformable model uses Deformable DETR's 10000 with the -0.5 offset).
        RANDOM_REFPOINTS_XY: draw the anchors' (x, y) uniformly at initialisation (official
            ``--random_refpoints_xy``, off by default; its attempt to freeze them has no effect, so they train).
        NUM_FEATURE_LEVELS, ENC_N_POINTS, DEC_N_POINTS, ATTENTION_IMPL: DABDeformableDETR only, as
            MODEL.DEFORMABLE_DETR's keys of the same names.
    MODEL.DN (DN-DETR denoising training, both DAB models):
        ENABLED: prepend noised ground-truth queries in training (never at inference).
        NUM_GROUPS: denoising groups (official ``--scalar``, 5).
        LABEL_NOISE_RATIO: probability that a denoising query's label is replaced by a random class (0.2).
        BOX_NOISE_SCALE: box noise relative to half the box size (0.4).
    """
    add_detr_config(cfg)
    if "DAB_DETR" in cfg.MODEL:
        return
    cfg.MODEL.DAB_DETR = CN()
    node = cfg.MODEL.DAB_DETR
    node.PRIOR_PROB = 0.01
    node.ACTIVATION = "prelu"
    node.POSITION_TEMPERATURE = 20.0
    node.RANDOM_REFPOINTS_XY = False
    node.NUM_FEATURE_LEVELS = 4
    node.ENC_N_POINTS = 4
    node.DEC_N_POINTS = 4
    node.ATTENTION_IMPL = "auto"
    if "DN" not in cfg.MODEL:
        cfg.MODEL.DN = CN()
        dn = cfg.MODEL.DN
        dn.ENABLED = False
        dn.NUM_GROUPS = 5
        dn.LABEL_NOISE_RATIO = 0.2
        dn.BOX_NOISE_SCALE = 0.4

"""Config keys of DINO (``MODEL.DINO``) on top of the shared ``MODEL.DETR`` node.

The shared keys keep their defaults here; configs/dino/Base-DINO.yaml sets DINO's official values
(900 queries, FFN 2048, dropout 0, focal loss with class weight 1, costs 2/5/2, 300 detections).
"""
from detectron2.config import CfgNode as CN

from projects.config import add_detr_config


def add_dino_config(cfg):
    """Add the shared ``MODEL.DETR`` keys and DINO's own node (idempotent).

    MODEL.DINO:
        NUM_FEATURE_LEVELS: levels seen by the transformer: the backbone levels of MODEL.DETR.IN_FEATURES
            plus stride-2 extra levels (4-scale: C3-C5 + 1 extra; 5-scale: C2-C5 + 1 extra).
        ENC_N_POINTS, DEC_N_POINTS: sampling points per head and level (official 4).
        POSITION_TEMPERATURE: temperature of the image sine positions (official pe_temperatureH/W 20).
        ATTENTION_IMPL: "auto" (compiled op when built, else the PyTorch reference) or "reference".
        DN_NUMBER: contrastive denoising (CDN) queries; official ``dn_number``: 2 * DN_NUMBER groups
            (positive + negative), reduced to fit the batch's largest target count (paper Sec. 3.3).
            0 disables denoising.
        DN_LABEL_NOISE_RATIO: official ``dn_label_noise_ratio`` (a label flips with half this probability).
        DN_BOX_NOISE_SCALE: official ``dn_box_noise_scale`` (config 0.4; the official scripts pass 1.0).
        DN_MAX_QUERIES: budget on the denoising queries of one batch (0 = none, the official behaviour);
            a DN_NUMBER that cannot fit it fails when the model is built.
        DN_LABELBOOK_SIZE: rows of the label embedding minus one (official ``dn_labelbook_size``, the
            number of class logits; 0 = MODEL.DETR.NUM_CLASSES).
        INTERM_LOSS_WEIGHT: weight of the encoder-proposal losses (``_interm``; official interm_loss_coef).
    """
    add_detr_config(cfg)
    if "DINO" in cfg.MODEL:
        return
    cfg.MODEL.DINO = CN()
    node = cfg.MODEL.DINO
    node.NUM_FEATURE_LEVELS = 4
    node.ENC_N_POINTS = 4
    node.DEC_N_POINTS = 4
    node.POSITION_TEMPERATURE = 20.0
    node.ATTENTION_IMPL = "auto"
    node.DN_NUMBER = 100
    node.DN_LABEL_NOISE_RATIO = 0.5
    node.DN_BOX_NOISE_SCALE = 1.0
    node.DN_MAX_QUERIES = 0
    node.DN_LABELBOOK_SIZE = 0
    node.INTERM_LOSS_WEIGHT = 1.0

"""DINO (Zhang et al., ICLR 2023: DETR with Improved DeNoising Anchor Boxes) for Detectron2.

Importing this package registers the ``DINO`` meta-architecture and the method (projects.registry).
Typical use::

    from projects.config import load_config
    from detectron2.modeling import build_model

    cfg = load_config("configs/dino/dino_4scale_r50_12ep.yaml")
    model = build_model(cfg)

Modules: config (``add_dino_config``), dino (the meta-architecture), build / transformer / decoder
(the transformer: deformable encoder, mixed query selection, look-forward-twice decoder), denoising
(DINO's use of projects.modeling.denoising), criterion (``_interm`` and ``_dn`` losses), convert (the
official-checkpoint converter), attention_figures (tools/visualize_attention.py), method.
"""
from .config import add_dino_config
from .convert import DINO_CONVERTER, convert_dino_state_dict, detect_dino
from .dino import DINO
from .transformer import DINOTransformer
from .method import METHOD  # registers the method (projects.registry)

__all__ = ["DINO", "DINOTransformer", "DINO_CONVERTER", "METHOD", "add_dino_config", "convert_dino_state_dict",
           "detect_dino"]

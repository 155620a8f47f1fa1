"""DAB-DETR (Liu et al., ICLR 2022) and DAB-Deformable-DETR for Detectron2, with DN-DETR's denoising
training (Li et al., CVPR 2022) as an option of both (MODEL.DN).

Importing this package registers the ``DABDETR`` and ``DABDeformableDETR`` meta-architectures and the
methods "dab_detr" and "dn_detr" (official checkpoints of IDEA-Research/DAB-DETR and /DN-DETR). Typical use::

    from detectron2.modeling import build_model
    from projects.config import load_config

    cfg = load_config("configs/dab_detr/dab_detr_r50_50ep.yaml")
    model = build_model(cfg)
"""
from .config import add_dab_detr_config
from .convert import DAB_DETR_CONVERTER, DN_DETR_CONVERTER, convert_dab_detr_state_dict, convert_dn_detr_state_dict
from .dab_deformable_detr import DABDeformableDETR
from .dab_detr import DABDETR
from .deformable_transformer import (
    DABDeformableTransformer, build_dab_deformable_transformer, make_dab_deformable_transformer,
)
from .transformer import DABTransformer, build_dab_detr_transformer, make_dab_detr_transformer
from .method import DN_METHOD, METHOD  # registers the methods (projects.registry)

__all__ = [
    "DAB_DETR_CONVERTER",
    "DABDETR",
    "DABDeformableDETR",
    "DABDeformableTransformer",
    "DABTransformer",
    "DN_DETR_CONVERTER",
    "DN_METHOD",
    "METHOD",
    "add_dab_detr_config",
    "build_dab_deformable_transformer",
    "build_dab_detr_transformer",
    "convert_dab_detr_state_dict",
    "convert_dn_detr_state_dict",
    "make_dab_deformable_transformer",
    "make_dab_detr_transformer",
]

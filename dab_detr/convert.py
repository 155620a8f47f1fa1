"""Official DAB-DETR checkpoints (IDEA-Research/DAB-DETR) and DN-DETR's DN-DAB models
(IDEA-Research/DN-DETR) -> this project's names.

The layouts differ from ours only where every official DETR-family checkpoint does (``SHARED_RULES``:
the torchvision trunk, the layer FFNs), in the PReLU of the single-scale layers (``activation``, which
lives in our FFN module), and in the decoder's aliases of the box heads
(``transformer.decoder.bbox_embed.*``), which we drop after checking they equal the top-level heads.
Variants (the official ``--modelname``): "dab_detr" (DABDETR) and "dab_deformable_detr" (DABDeformableDETR);
the DN-DETR checkpoints ("dn_dab_detr", "dn_dab_deformable_detr") are the same plus ``label_enc.weight``
(MODEL.DN.ENABLED).
"""
from typing import Dict, Optional

import torch

from projects.checkpoint import (
    ConversionError, OfficialConverter, SHARED_RULES, convert_state_dict, require_family,
)
from projects.checkpoint.coco_classes import select_coco_classes
from projects.checkpoint.rules import drop_decoder_aliases

DAB_DETR_RULES = list(SHARED_RULES) + [
    # official: an nn.PReLU per layer under ``activation``; ours is the FFN's activation module
    (r"^transformer\.(encoder|decoder)\.layers\.(\d+)\.activation\.", r"transformer.\1.layers.\2.ffn.activation."),
]

ANCHORS = "refpoint_embed.weight"
DENOISING = "label_enc.weight"
# what tells the two models apart (both have the anchors); DINO and Deformable DETR have no ``refpoint_embed``
MODEL_KEYS = {
    "dab_detr": ("transformer.decoder.ref_anchor_head.layers.0.weight", "input_proj.weight"),
    "dab_deformable_detr": ("transformer.level_embed", "tgt_embed.weight"),
}
META_ARCHITECTURES = {"dab_detr": "DABDETR", "dab_deformable_detr": "DABDeformableDETR"}
FAMILIES = {"dab_detr": "DAB-DETR", "dab_deformable_detr": "DAB-Deformable-DETR"}
DN_PREFIX = "dn_"


def read_model(official) -> Optional[str]:
    """"dab_detr" (single-scale) or "dab_deformable_detr" when ``official`` is one of the DAB models
    (with or without DN-DETR's ``label_enc``), else None."""
    if ANCHORS not in official:
        return None
    return next((model for model, keys in MODEL_KEYS.items() if all(key in official for key in keys)), None)


def read_variant(official, denoising: bool) -> Optional[str]:
    """The variant name of ``official`` (the official ``--modelname``: "dab_detr", "dab_deformable_detr",
    with denoising "dn_dab_detr", "dn_dab_deformable_detr"), when it has ``label_enc`` exactly when
    ``denoising`` (the DN-DETR checkpoints); else None."""
    model = read_model(official)
    if model is None or (DENOISING in official) != denoising:
        return None
    return DN_PREFIX + model if denoising else model


def describe(variant: str) -> str:
    """E.g. "DN-DAB-Deformable-DETR" for "dn_dab_deformable_detr"."""
    model = variant[len(DN_PREFIX):] if variant.startswith(DN_PREFIX) else variant
    return ("DN-" if variant.startswith(DN_PREFIX) else "") + FAMILIES[model]


def variant_of_config(cfg) -> str:
    model = "dab_deformable_detr" if cfg.MODEL.META_ARCHITECTURE == "DABDeformableDETR" else "dab_detr"
    return DN_PREFIX + model if cfg.MODEL.DN.ENABLED else model


def reduce_classes(converted: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The 91-way (COCO id) sigmoid heads (one, or one per layer) -> Detectron2's 80 contiguous classes; the
    DN label embedding (91 COCO ids + the "no object" row) -> 80 + 1 rows."""
    reduced = dict(converted)
    for key, value in converted.items():
        if key.startswith("class_embed."):
            reduced[key] = select_coco_classes(value, with_no_object=False)
        elif key == DENOISING:
            reduced[key] = select_coco_classes(value, with_no_object=True)
    return reduced


def make_converter(method: str, family: str, denoising: bool) -> OfficialConverter:
    """The converter of the DAB checkpoints with (DN-DETR) or without (DAB-DETR) denoising."""

    def detect(official) -> Optional[str]:
        return read_variant(official, denoising)

    def convert(official, coco_to_contiguous: bool = False) -> Dict[str, torch.Tensor]:
        require_family(converter, official)
        converted = convert_state_dict(drop_decoder_aliases(official), DAB_DETR_RULES)
        return reduce_classes(converted) if coco_to_contiguous else converted

    def check_config(official, converted, cfg) -> None:
        found, wanted = read_variant(official, denoising), variant_of_config(cfg)
        if found != wanted:
            raise ConversionError(f"The checkpoint is a {describe(found)} checkpoint, but the config builds "
                                  f"{describe(wanted)} ({cfg.MODEL.META_ARCHITECTURE}, MODEL.DN.ENABLED "
                                  f"{cfg.MODEL.DN.ENABLED}): use the config of the checkpoint's variant "
                                  f"(configs/dab_detr/)")

    converter = OfficialConverter(method=method, family=family, meta_architecture="DABDETR", detect=detect,
                                  convert=convert, check_config=check_config,
                                  variant_meta_architectures={
                                      (DN_PREFIX if denoising else "") + model: architecture
                                      for model, architecture in META_ARCHITECTURES.items()})
    return converter


DAB_DETR_CONVERTER = make_converter("dab_detr", "DAB-DETR", denoising=False)
DN_DETR_CONVERTER = make_converter("dn_detr", "DN-DETR (DN-DAB-DETR)", denoising=True)


def convert_dab_detr_state_dict(official, coco_to_contiguous=False) -> Dict[str, torch.Tensor]:
    """Rename an official DAB-DETR or DAB-Deformable-DETR state dict (checked to be one)."""
    return DAB_DETR_CONVERTER.convert(official, coco_to_contiguous)


def convert_dn_detr_state_dict(official, coco_to_contiguous=False) -> Dict[str, torch.Tensor]:
    """Rename an official DN-DAB-DETR or DN-DAB-Deformable-DETR state dict (checked to be one)."""
    return DN_DETR_CONVERTER.convert(official, coco_to_contiguous)

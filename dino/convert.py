"""Official DINO checkpoints (IDEA-Research/DINO layout, 4-scale and 5-scale) -> this project's names.

Our module names are the official ones except where every official DETR-family checkpoint differs
(``SHARED_RULES``: the torchvision trunk and the layer FFNs). The decoder's aliases of the shared
heads (``transformer.decoder.{bbox,class}_embed.*``, stored once per layer) are dropped after
checking that they equal the top-level heads.
"""
import re
from typing import Dict, Optional

import torch

from projects.checkpoint import (
    ConversionError, OfficialConverter, SHARED_RULES, convert_state_dict, require_family, select_coco_classes,
)
from projects.checkpoint.rules import drop_decoder_aliases

DINO_RULES = list(SHARED_RULES)
# Keys only a DINO checkpoint has (a DAB-Deformable-DETR keeps tgt_embed at the top level, without
# the encoder-proposal heads).
SIGNATURE_KEYS = ("transformer.tgt_embed.weight", "transformer.enc_out_class_embed.weight", "label_enc.weight",
                  "transformer.decoder.ref_point_head.layers.0.weight")
CLASS_HEAD = re.compile(r"^(class_embed\.\d+|transformer\.enc_out_class_embed)\.(weight|bias)$")


def num_levels(official) -> int:
    """Feature levels of an official DINO state dict (rows of the level embedding)."""
    return official["transformer.level_embed"].shape[0]


def detect_dino(official) -> Optional[str]:
    """"4scale" / "5scale" (``<levels>scale``) when ``official`` is a DINO checkpoint, else None."""
    if not all(key in official for key in SIGNATURE_KEYS) or "transformer.level_embed" not in official:
        return None
    return f"{num_levels(official)}scale"


def reduce_to_contiguous_classes(converted: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Every class head (decoder and encoder proposals) from 91 COCO-id rows to the 80 contiguous classes;
    the label embedding keeps its rows of those classes and its last (extra) row."""
    reduced = dict(converted)
    for key, value in converted.items():
        if CLASS_HEAD.match(key):
            reduced[key] = select_coco_classes(value, with_no_object=False)
    reduced["label_enc.weight"] = select_coco_classes(converted["label_enc.weight"], with_no_object=True)
    return reduced


def convert_dino_state_dict(official, coco_to_contiguous: bool = False) -> Dict[str, torch.Tensor]:
    """Official DINO state dict -> ours (``coco_to_contiguous``: COCO-id rows reduced to 80 classes)."""
    require_family(DINO_CONVERTER, official)
    converted = convert_state_dict(drop_decoder_aliases(official), DINO_RULES)
    return reduce_to_contiguous_classes(converted) if coco_to_contiguous else converted


def check_config(official, converted, cfg) -> None:
    """ConversionError (one line) when ``cfg`` has another level count (4-scale vs 5-scale) or class count."""
    levels, configured = num_levels(official), cfg.MODEL.DINO.NUM_FEATURE_LEVELS
    if levels != configured:
        raise ConversionError(
            f"The checkpoint is DINO {levels}-scale, but the config builds {configured} levels "
            f"(MODEL.DINO.NUM_FEATURE_LEVELS): use configs/dino/dino_{levels}scale_*.yaml")
    num_classes = converted["class_embed.0.weight"].shape[0]
    if num_classes != cfg.MODEL.DETR.NUM_CLASSES:
        hint = "drop --keep-coco-ids" if num_classes == 91 else "pass --keep-coco-ids"
        raise ConversionError(f"The converted head has {num_classes} classes but the config has MODEL.DETR.NUM_CLASSES "
                              f"{cfg.MODEL.DETR.NUM_CLASSES}; {hint} or change NUM_CLASSES")


DINO_CONVERTER = OfficialConverter(
    method="dino", family="DINO", meta_architecture="DINO", detect=detect_dino, convert=convert_dino_state_dict,
    check_config=check_config,
)

"""Official single-scale SMCA checkpoint (gaopengcuhk/SMCA-DETR layout) -> this package's ``SMCA``.

Besides what every official DETR-family checkpoint renames (``SHARED_RULES``), the decoder's
Gaussian-like prior is regrouped. The official multi-scale archive (``Multi_scale_SMCA.zip``) has
another architecture than ``SMCAMultiScale`` (see the package docstring): it is recognised and refused.
"""
from typing import Dict, Optional

import torch

from projects.checkpoint import (
    ConversionError, OfficialConverter, SHARED_RULES, convert_state_dict, reduce_class_head, require_family,
)

_DECODER = r"^transformer\.decoder\.layers\.(\d+)\."

SMCA_RULES = SHARED_RULES + [
    # the official GaussianMultiheadAttention is an nn.MultiheadAttention; ours wraps one as ``attn``
    (_DECODER + r"multihead_attn\.", r"transformer.decoder.layers.\1.multihead_attn.attn."),
    # prior heads: norm4 -> prior.norm, point2 (offsets) -> prior.offset_head, point3 (scales) -> prior.scale_head
    (_DECODER + r"norm4\.", r"transformer.decoder.layers.\1.prior.norm."),
    (_DECODER + r"point2\.", r"transformer.decoder.layers.\1.prior.offset_head."),
    (_DECODER + r"point3\.", r"transformer.decoder.layers.\1.prior.scale_head."),
    # the centre MLP exists only in official decoder layer 0; here it belongs to the decoder
    (r"^transformer\.decoder\.layers\.0\.point1\.", "transformer.decoder.center_head."),
]

CENTER_KEY = "transformer.decoder.layers.0.point1.layers.0.weight"
SCALE_KEY = "transformer.decoder.layers.0.point3.weight"
# point3 output width (8 heads) -> (official --dynamic_scale type, MODEL.SMCA.SCALE_MODE); no point3 = type1
SCALE_MODE_BY_WIDTH = {0: (1, "fixed"), 8: (2, "single"), 16: (3, "independent")}


def detect_smca(official) -> Optional[str]:
    """``single_scale_type1/2/3`` (official --dynamic_scale), ``multi_scale``, or None if not SMCA."""
    if any(key.startswith("input_proj_") for key in official) or (
            CENTER_KEY in official and "transformer.level_embed" in official):
        return "multi_scale"
    if CENTER_KEY not in official:
        return None
    width = official[SCALE_KEY].shape[0] if SCALE_KEY in official else 0
    if width not in SCALE_MODE_BY_WIDTH:
        return f"single_scale with {width} point3 outputs"
    return f"single_scale_type{SCALE_MODE_BY_WIDTH[width][0]}"


def describe_official_smca(official: Dict[str, torch.Tensor]) -> Dict[str, object]:
    """Check that ``official`` is a single-scale SMCA state dict and read its config-relevant sizes.

    Returns {"scale_mode", "num_classes" (class-head rows), "num_queries", "enc_layers", "dec_layers"}.
    Raises WrongCheckpointError for another family, ConversionError for an SMCA layout without equivalent.
    """
    variant = require_family(SMCA_CONVERTER, official)
    if variant == "multi_scale":
        raise ConversionError(
            "this is an official *multi-scale* SMCA checkpoint (Multi_scale_SMCA.zip layout: level_embed, "
            "input_proj_512/1024/2048); only the single-scale model has an equivalent here")
    width = official[SCALE_KEY].shape[0] if SCALE_KEY in official else 0
    if width not in SCALE_MODE_BY_WIDTH:
        raise ConversionError(f"point3 has {width} outputs: dynamic_scale type4 (covariance) is not supported")
    return {
        "scale_mode": SCALE_MODE_BY_WIDTH[width][1],
        "num_classes": official["class_embed.weight"].shape[0],
        "num_queries": official["query_embed.weight"].shape[0],
        "enc_layers": _count_layers(official, "transformer.encoder.layers."),
        "dec_layers": _count_layers(official, "transformer.decoder.layers."),
    }


def _count_layers(official, prefix):
    return len({key[len(prefix):].split(".")[0] for key in official if key.startswith(prefix)})


def convert_smca_state_dict(official: Dict[str, torch.Tensor], coco_to_contiguous: bool = False):
    """Rename an official single-scale SMCA state dict to this package's ``SMCA`` names.

    ``coco_to_contiguous``: reduce the 92-column head (COCO ids 0..90 + the unused no-object column)
    to Detectron2's 80 contiguous COCO classes (sigmoid head: no no-object row is kept).
    """
    describe_official_smca(official)
    converted = convert_state_dict(official, SMCA_RULES)
    return reduce_class_head(converted, with_no_object=False) if coco_to_contiguous else converted


def check_config(official, converted, cfg) -> None:
    """Raise ConversionError naming the config values this checkpoint needs where ``cfg`` differs."""
    description = describe_official_smca(official)
    needed = {
        "MODEL.SMCA.SCALE_MODE": description["scale_mode"],
        "MODEL.DETR.NUM_CLASSES": converted["class_embed.weight"].shape[0],
        "MODEL.DETR.NUM_OBJECT_QUERIES": description["num_queries"],
        "MODEL.DETR.ENC_LAYERS": description["enc_layers"],
        "MODEL.DETR.DEC_LAYERS": description["dec_layers"],
    }
    wrong = {key: value for key, value in needed.items() if _config_value(cfg, key) != value}
    if wrong:
        found = ", ".join(f"{key} {_config_value(cfg, key)}" for key in wrong)
        raise ConversionError(f"the config has {found}; this checkpoint needs: "
                              + " ".join(f"{key} {value}" for key, value in wrong.items()))


def _config_value(cfg, dotted_key):
    node = cfg
    for part in dotted_key.split("."):
        node = node[part]
    return node


SMCA_CONVERTER = OfficialConverter(
    method="smca", family="SMCA", meta_architecture="SMCA", detect=detect_smca,
    convert=convert_smca_state_dict, check_config=check_config,
)

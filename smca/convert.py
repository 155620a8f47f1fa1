"""Official single-scale SMCA checkpoint (gaopengcuhk/SMCA-DETR layout) -> this package's ``SMCA``."""
from typing import Dict

import torch

from projects.checkpoint import backbone_rules, convert_state_dict, select_coco_classes

_DECODER = r"^transformer\.decoder\.layers\.(\d+)\."

SMCA_RULES = backbone_rules("backbone.0.body.") + [
    (r"^transformer\.encoder\.layers\.(\d+)\.linear(\d)\.", r"transformer.encoder.layers.\1.ffn.linear\2."),
    (_DECODER + r"linear(\d)\.", r"transformer.decoder.layers.\1.ffn.linear\2."),
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
SCALE_MODE_BY_WIDTH = {8: "single", 16: "independent"}  # point3 output width -> SCALE_MODE (8 heads)


class NotSMCACheckpointError(ValueError):
    """The state dict is not an official single-scale SMCA model."""


def describe_official_smca(official: Dict[str, torch.Tensor]) -> Dict[str, object]:
    """Check that ``official`` is a single-scale SMCA state dict and read its config-relevant sizes.

    Returns {"scale_mode", "num_classes" (class-head rows), "num_queries", "enc_layers", "dec_layers"}.
    Raises NotSMCACheckpointError with the reason otherwise.
    """
    if any(key.startswith("transformer.level_embed") or key.startswith("input_proj_") for key in official):
        raise NotSMCACheckpointError(
            "this is an official *multi-scale* SMCA checkpoint (Multi_scale_SMCA.zip layout: level_embed, "
            "input_proj_512/1024/2048); only the single-scale model has an equivalent here")
    if CENTER_KEY not in official:
        hint = " (it looks like a plain DETR checkpoint)" if "class_embed.weight" in official else ""
        raise NotSMCACheckpointError(f"not an official single-scale SMCA checkpoint: '{CENTER_KEY}' is missing{hint}")
    scale_key = "transformer.decoder.layers.0.point3.weight"
    width = official[scale_key].shape[0] if scale_key in official else 0
    if width and width not in SCALE_MODE_BY_WIDTH:
        raise NotSMCACheckpointError(f"point3 has {width} outputs: dynamic_scale type4 (covariance) is not supported")
    return {
        "scale_mode": SCALE_MODE_BY_WIDTH.get(width, "fixed"),
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
    if coco_to_contiguous:
        for name in ("class_embed.weight", "class_embed.bias"):
            converted[name] = select_coco_classes(converted[name], with_no_object=False)
    return converted

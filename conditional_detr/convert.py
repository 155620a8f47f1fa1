"""Official Conditional DETR checkpoint (Atten4Vis/ConditionalDETR layout) -> this project's names.

The layouts differ only where every official DETR-family checkpoint does (``SHARED_RULES``: the
torchvision trunk and the layer FFNs). The decoder's own projections (``sa_*``, ``ca_*``),
``query_scale`` and ``ref_point_head`` keep their official names. The same key layout serves
R50/R101 and their DC5 variants.
"""
from projects.checkpoint import (
    OfficialConverter, SHARED_RULES, convert_state_dict, reduce_class_head, require_family,
)

CONDITIONAL_DETR_RULES = list(SHARED_RULES)

# Keys only a Conditional DETR checkpoint has.
SIGNATURE_KEYS = (
    "transformer.decoder.ref_point_head.layers.0.weight",
    "transformer.decoder.query_scale.layers.0.weight",
    "transformer.decoder.layers.0.ca_qpos_sine_proj.weight",
)


# ... and that none has: the anchor queries of DAB-DETR, whose decoder is Conditional DETR's
OTHER_METHOD_KEYS = ("refpoint_embed.weight",)


def detect_conditional_detr(official):
    """"" (one key layout for every Conditional DETR) when ``official`` is one, else None."""
    if any(key in official for key in OTHER_METHOD_KEYS):
        return None
    return "" if all(key in official for key in SIGNATURE_KEYS) else None


def convert_conditional_detr_state_dict(official, coco_to_contiguous=False):
    """Rename an official Conditional DETR state dict.

    With ``coco_to_contiguous`` the 91-way sigmoid classifier (row = COCO category id) is reduced to
    Detectron2's 80 contiguous COCO classes (there is no no-object row to keep).
    """
    require_family(CONDITIONAL_DETR_CONVERTER, official)
    converted = convert_state_dict(official, CONDITIONAL_DETR_RULES)
    return reduce_class_head(converted, with_no_object=False) if coco_to_contiguous else converted


CONDITIONAL_DETR_CONVERTER = OfficialConverter(
    method="conditional_detr", family="Conditional DETR", meta_architecture="ConditionalDETR",
    detect=detect_conditional_detr, convert=convert_conditional_detr_state_dict,
)

"""Official Conditional DETR checkpoint (Atten4Vis/ConditionalDETR layout) -> this project's names.

The layouts differ exactly where DETR's do: the torchvision ResNet trunk (Detectron2 naming under
``backbone.body.``) and the FFN of every encoder/decoder layer (grouped under ``ffn``). The decoder's
own projections (``sa_*``, ``ca_*``), ``query_scale`` and ``ref_point_head`` keep their official names.
The same key layout serves R50/R101 and their DC5 variants.
"""
from projects.checkpoint import convert_state_dict, select_coco_classes
from projects.detr.convert import DETR_RULES

CONDITIONAL_DETR_RULES = list(DETR_RULES)

# Keys only a Conditional DETR checkpoint has.
SIGNATURE_KEYS = (
    "transformer.decoder.ref_point_head.layers.0.weight",
    "transformer.decoder.query_scale.layers.0.weight",
    "transformer.decoder.layers.0.ca_qpos_sine_proj.weight",
)

# A key fragment of another family's checkpoint -> its name, for the error message.
OTHER_FAMILIES = (
    ("sampling_offsets", "Deformable DETR"),
    ("point1", "SMCA"),
    ("multihead_attn", "DETR"),
)


class NotConditionalDETRError(ValueError):
    """The state dict is not an official Conditional DETR checkpoint."""


def check_is_conditional_detr(official):
    """Raise NotConditionalDETRError (naming the likely family) unless ``official`` is Conditional DETR."""
    missing = [key for key in SIGNATURE_KEYS if key not in official]
    if not missing:
        return
    guess = next((name for fragment, name in OTHER_FAMILIES if any(fragment in key for key in official)), None)
    looks_like = f" It looks like a {guess} checkpoint." if guess else ""
    raise NotConditionalDETRError(
        f"Not an official Conditional DETR checkpoint: missing {missing}.{looks_like} "
        "Use the converter of the model the checkpoint belongs to."
    )


def convert_conditional_detr_state_dict(official, coco_to_contiguous=False):
    """Rename an official Conditional DETR state dict.

    With ``coco_to_contiguous`` the 91-way sigmoid classifier (row = COCO category id) is reduced to
    Detectron2's 80 contiguous COCO classes (there is no no-object row to keep).
    """
    check_is_conditional_detr(official)
    converted = convert_state_dict(official, CONDITIONAL_DETR_RULES)
    if coco_to_contiguous:
        for name in ("class_embed.weight", "class_embed.bias"):
            if converted[name].shape[0] != 91:
                raise ValueError(f"{name} has {converted[name].shape[0]} rows; the COCO reduction expects 91 "
                                 "(category ids 0..90)")
            converted[name] = select_coco_classes(converted[name], with_no_object=False)
    return converted

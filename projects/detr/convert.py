"""Official DETR checkpoint (facebookresearch/detr layout) -> this project's DETR parameter names.

The layouts differ only where every official DETR-family checkpoint does (``SHARED_RULES``: the
torchvision trunk and the layer FFNs).
"""
from projects.checkpoint import OfficialConverter, SHARED_RULES, convert_state_dict, reduce_class_head
from projects.checkpoint import require_family, submodule_names

DETR_RULES = list(SHARED_RULES)
# Exactly the modules of an official DETR decoder layer (SMCA's add a prior; Conditional/Deformable differ).
DECODER_LAYER_MODULES = {"self_attn", "multihead_attn", "linear1", "linear2", "norm1", "norm2", "norm3"}


def detect_detr(official):
    """"" (DETR has no variants) when ``official`` is an official DETR state dict, else None."""
    layer = submodule_names(official, "transformer.decoder.layers.0.")
    heads = {"query_embed.weight", "class_embed.weight", "transformer.decoder.norm.weight"}
    return "" if layer == DECODER_LAYER_MODULES and heads <= set(official) else None


def convert_detr_state_dict(official, coco_to_contiguous=False):
    """Rename an official DETR state dict; optionally reduce its 92-way classifier (COCO ids + no-object)
    to Detectron2's 80 contiguous COCO classes + no-object."""
    require_family(DETR_CONVERTER, official)
    converted = convert_state_dict(official, DETR_RULES)
    return reduce_class_head(converted, with_no_object=True) if coco_to_contiguous else converted


DETR_CONVERTER = OfficialConverter(
    method="detr", family="DETR", meta_architecture="DETR", detect=detect_detr,
    convert=convert_detr_state_dict,
)

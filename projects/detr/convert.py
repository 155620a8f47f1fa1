"""Official DETR checkpoint (facebookresearch/detr layout) -> this project's DETR parameter names."""
from ..checkpoint import backbone_rules, convert_state_dict, select_coco_classes

DETR_RULES = backbone_rules("backbone.0.body.") + [
    # official layers hold linear1/linear2 directly; ours group them in an ``ffn`` module
    (r"^transformer\.(encoder|decoder)\.layers\.(\d+)\.linear(\d)\.", r"transformer.\1.layers.\2.ffn.linear\3."),
]


def convert_detr_state_dict(official, coco_to_contiguous=False):
    """Rename an official DETR state dict; optionally reduce its 92-way classifier (COCO ids + no-object)
    to Detectron2's 80 contiguous COCO classes + no-object."""
    converted = convert_state_dict(official, DETR_RULES)
    if coco_to_contiguous:
        for name in ("class_embed.weight", "class_embed.bias"):
            converted[name] = select_coco_classes(converted[name], with_no_object=True)
    return converted

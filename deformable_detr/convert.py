"""Official Deformable DETR checkpoints (fundamentalvision/Deformable-DETR) -> this project's names.

Our module names are the official ones except: the ResNet trunk (torchvision -> Detectron2 names,
``backbone.0.body.`` -> ``backbone.body.``), the layer FFNs (``linearN`` -> ``ffn.linearN``), and
the decoder's aliases of the refinement heads (``transformer.decoder.{bbox,class}_embed.*``),
which official checkpoints store twice: we keep the top-level copy and check the alias equals it.
"""
import re
from typing import Dict, NamedTuple, Optional

import torch

from projects.checkpoint import COCO_THING_IDS, ConversionError, backbone_rules, convert_state_dict

DEFORMABLE_DETR_RULES = backbone_rules("backbone.0.body.") + [
    (r"^transformer\.(encoder|decoder)\.layers\.(\d+)\.linear(\d)\.", r"transformer.\1.layers.\2.ffn.linear\3."),
]
ALIAS_PATTERN = re.compile(r"^transformer\.decoder\.((?:bbox|class)_embed\..*)$")
INPUT_PROJ_PATTERN = re.compile(r"^input_proj\.(\d+)\.0\.weight$")


class DeformableVariant(NamedTuple):
    """What distinguishes the four paper variants (and any other level count)."""

    num_feature_levels: int
    with_box_refine: bool
    two_stage: bool

    @property
    def name(self) -> str:
        for name, variant in PAPER_VARIANTS.items():
            if variant == self:
                return name
        return f"levels={self.num_feature_levels},refine={self.with_box_refine},two_stage={self.two_stage}"

    def describe(self) -> str:
        parts = [f"{self.num_feature_levels} feature level(s)"]
        parts.append("box refinement" if self.with_box_refine else "no box refinement")
        parts.append("two-stage" if self.two_stage else "one-stage")
        return f"{self.name} ({', '.join(parts)})"


PAPER_VARIANTS = {
    "single_scale": DeformableVariant(1, False, False),
    "multi_scale": DeformableVariant(4, False, False),
    "box_refine": DeformableVariant(4, True, False),
    "two_stage": DeformableVariant(4, True, True),
}


def variant_from_config(cfg) -> DeformableVariant:
    options = cfg.MODEL.DEFORMABLE_DETR
    return DeformableVariant(options.NUM_FEATURE_LEVELS, options.WITH_BOX_REFINE, options.TWO_STAGE)


def detect_variant(official: Dict[str, torch.Tensor]) -> DeformableVariant:
    """Read the variant off an official state dict's keys; raises if it is not Deformable DETR."""
    if "transformer.level_embed" not in official:
        raise ConversionError("Not a Deformable DETR checkpoint: it has no 'transformer.level_embed'")
    levels = {int(m[1]) for m in map(INPUT_PROJ_PATTERN.match, official) if m}
    refine = any(key.startswith("transformer.decoder.bbox_embed.") for key in official)
    two_stage = "transformer.enc_output.weight" in official
    return DeformableVariant(len(levels), refine, two_stage)


def check_variant(found: DeformableVariant, expected: DeformableVariant) -> None:
    """Raise a ConversionError naming both variants when the checkpoint is not the expected one."""
    if found != expected:
        raise ConversionError(
            f"The checkpoint is Deformable DETR {found.describe()}, but {expected.describe()} was requested. "
            f"Use the config of the checkpoint's variant (configs/deformable_detr/), or pick the checkpoint "
            f"that matches this config."
        )


def drop_decoder_aliases(official: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Remove ``transformer.decoder.{bbox,class}_embed.*`` after checking each equals its top-level key."""
    kept = {}
    for key, value in official.items():
        match = ALIAS_PATTERN.match(key)
        if not match:
            kept[key] = value
            continue
        target = official.get(match[1])
        if target is None or target.shape != value.shape:
            raise ConversionError(f"{key} has no top-level counterpart {match[1]!r} of the same shape")
        if not value.is_meta and not target.is_meta and not torch.equal(value, target):
            raise ConversionError(f"{key} differs from {match[1]}; official checkpoints store the same tensor twice")
    return kept


def contiguous_class_rows(head_index: int, variant: DeformableVariant, num_heads: int):
    """Rows of a 91-way (COCO id) head kept for Detectron2's 80 contiguous classes.

    The two-stage proposal head (the last one) scores objectness in column 0 (official: its
    targets all have label 0), so that row stays first; its other columns are trained as negatives only.
    """
    if variant.two_stage and head_index == num_heads - 1:
        return [0] + list(COCO_THING_IDS[1:])
    return list(COCO_THING_IDS)


def reduce_to_contiguous_classes(converted: Dict[str, torch.Tensor], variant: DeformableVariant):
    """Reduce every ``class_embed.<i>`` from 91 COCO-id outputs to the 80 contiguous COCO classes."""
    pattern = re.compile(r"^class_embed\.(\d+)\.(weight|bias)$")
    heads = {int(m[1]) for m in map(pattern.match, converted) if m}
    reduced = dict(converted)
    for key in converted:
        match = pattern.match(key)
        if match:
            rows = contiguous_class_rows(int(match[1]), variant, len(heads))
            reduced[key] = converted[key][rows]
    return reduced


def convert_deformable_detr_state_dict(official: Dict[str, torch.Tensor],
                                       expected_variant: Optional[DeformableVariant] = None,
                                       coco_to_contiguous: bool = False) -> Dict[str, torch.Tensor]:
    """Official state dict -> ours. Checks the variant when ``expected_variant`` is given and, with
    ``coco_to_contiguous``, reduces the 91-way COCO-id classifiers to Detectron2's 80 classes."""
    variant = detect_variant(official)
    if expected_variant is not None:
        check_variant(variant, expected_variant)
    converted = convert_state_dict(drop_decoder_aliases(official), DEFORMABLE_DETR_RULES)
    if coco_to_contiguous:
        converted = reduce_to_contiguous_classes(converted, variant)
    return converted

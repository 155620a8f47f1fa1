"""Official Deformable DETR checkpoints (fundamentalvision/Deformable-DETR) -> this project's names.

Our module names are the official ones except where every official DETR-family checkpoint differs
(``SHARED_RULES``: the torchvision trunk and the layer FFNs), and the decoder's aliases of the
refinement heads (``transformer.decoder.{bbox,class}_embed.*``), which official checkpoints store
twice: we keep the top-level copy and check the alias equals it.
"""
import re
from typing import Dict, NamedTuple, Optional

import torch

from projects.checkpoint import (
    COCO_THING_IDS, ConversionError, OfficialConverter, SHARED_RULES, convert_state_dict, require_family,
)
from projects.checkpoint.rules import drop_decoder_aliases  # noqa: F401 (moved to the core; re-exported)

DEFORMABLE_DETR_RULES = list(SHARED_RULES)
INPUT_PROJ_PATTERN = re.compile(r"^input_proj\.(\d+)\.0\.weight$")
# Keys every official Deformable DETR has (a multi-scale SMCA has a level embedding too, not the sampling).
SIGNATURE_KEYS = ("transformer.level_embed", "transformer.decoder.layers.0.cross_attn.sampling_offsets.weight")
# ... and that no official Deformable DETR has: the learned anchors of the methods built on it (DAB-Deformable-DETR)
# and the transformer's learned content queries (DINO)
OTHER_METHOD_KEYS = ("refpoint_embed.weight", "transformer.tgt_embed.weight")


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


def read_variant(official: Dict[str, torch.Tensor]) -> Optional[DeformableVariant]:
    """The variant of an official Deformable DETR state dict, or None if it is not one."""
    if not all(key in official for key in SIGNATURE_KEYS) or any(key in official for key in OTHER_METHOD_KEYS):
        return None
    levels = {int(m[1]) for m in map(INPUT_PROJ_PATTERN.match, official) if m}
    refine = any(key.startswith("transformer.decoder.bbox_embed.") for key in official)
    two_stage = "transformer.enc_output.weight" in official
    return DeformableVariant(len(levels), refine, two_stage)


def detect_variant(official: Dict[str, torch.Tensor]) -> DeformableVariant:
    """Read the variant off an official state dict's keys; WrongCheckpointError if it is not Deformable DETR."""
    require_family(DEFORMABLE_DETR_CONVERTER, official)
    return read_variant(official)


def check_variant(found: DeformableVariant, expected: DeformableVariant) -> None:
    """Raise a ConversionError naming both variants when the checkpoint is not the expected one."""
    if found != expected:
        raise ConversionError(
            f"The checkpoint is Deformable DETR {found.describe()}, but {expected.describe()} was requested. "
            f"Use the config of the checkpoint's variant (configs/deformable_detr/), or pick the checkpoint "
            f"that matches this config."
        )


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


def check_config(official, converted, cfg) -> None:
    """Raise ConversionError when ``cfg`` is another variant or another class count than the converted head."""
    check_variant(detect_variant(official), variant_from_config(cfg))
    num_classes = converted["class_embed.0.weight"].shape[0]
    if num_classes != cfg.MODEL.DETR.NUM_CLASSES:
        hint = "drop --keep-coco-ids" if num_classes == 91 else "pass --keep-coco-ids"
        raise ConversionError(f"The converted head has {num_classes} classes but the config has MODEL.DETR.NUM_CLASSES "
                              f"{cfg.MODEL.DETR.NUM_CLASSES}; {hint} or change NUM_CLASSES")


def _detect(official) -> Optional[str]:
    variant = read_variant(official)
    return None if variant is None else variant.name


def _convert(official, coco_to_contiguous: bool = False):
    return convert_deformable_detr_state_dict(official, coco_to_contiguous=coco_to_contiguous)


DEFORMABLE_DETR_CONVERTER = OfficialConverter(
    method="deformable_detr", family="Deformable DETR", meta_architecture="DeformableDETR", detect=_detect,
    convert=_convert, check_config=check_config,
)

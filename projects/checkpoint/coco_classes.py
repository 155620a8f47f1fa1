"""Reduce an official classifier indexed by COCO category id to Detectron2's 80 contiguous COCO classes."""
from typing import Dict, Sequence

import torch

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

from projects.checkpoint.converters import ConversionError

# 0-based rows of a 91-way COCO classifier (category id = row) kept for Detectron2's 80 contiguous ids.
COCO_THING_IDS = [c["id"] for c in COCO_CATEGORIES if c.get("isthing", 0) == 1]
NUM_COCO_ID_ROWS = max(COCO_THING_IDS) + 1  # ids 0..90


def select_coco_classes(tensor: torch.Tensor, with_no_object: bool) -> torch.Tensor:
    """Rows of a COCO-id classifier [R, ...] (R >= 91; the last row is no-object when ``with_no_object``)
    -> [80 (+1), ...] in Detectron2's contiguous order."""
    needed = NUM_COCO_ID_ROWS + int(with_no_object)
    if tensor.shape[0] < needed:
        raise ConversionError(f"The class head has {tensor.shape[0]} rows; reducing it to COCO's 80 classes "
                              f"needs the {needed} COCO-id rows of an official COCO model (or pass --keep-coco-ids)")
    rows = list(COCO_THING_IDS) + ([tensor.shape[0] - 1] if with_no_object else [])
    return tensor[rows]


def reduce_class_head(converted: Dict[str, torch.Tensor], with_no_object: bool,
                      names: Sequence[str] = ("class_embed.weight", "class_embed.bias")) -> Dict[str, torch.Tensor]:
    """A copy of ``converted`` whose single class head (``names``) keeps only the 80 COCO classes."""
    reduced = dict(converted)
    for name in names:
        reduced[name] = select_coco_classes(converted[name], with_no_object)
    return reduced

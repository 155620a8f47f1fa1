"""Boxes of the DETR family: format conversions, (generalized) IoU, and boxes predicted relative to a
reference point or box (Deformable DETR App. A.3, Conditional DETR Sec. 3.3, SMCA Eq. 12: the head
predicts an offset in logit space, added to the reference's logit).

Boxes are float tensors whose last dimension holds 4 coordinates: either (cx, cy, w, h) or
(x0, y0, x1, y1). Every function works on any leading shape unless stated otherwise.
"""
from typing import Tuple

import torch
from torch import Tensor

from projects.layers.misc import inverse_sigmoid


def box_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """[..., 4] (cx, cy, w, h) -> [..., 4] (x0, y0, x1, y1)."""
    center, size = boxes[..., :2], boxes[..., 2:]
    return torch.cat([center - 0.5 * size, center + 0.5 * size], dim=-1)


def box_xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """[..., 4] (x0, y0, x1, y1) -> [..., 4] (cx, cy, w, h)."""
    top_left, bottom_right = boxes[..., :2], boxes[..., 2:]
    return torch.cat([(top_left + bottom_right) / 2, bottom_right - top_left], dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """[..., 4] xyxy -> [...] area (negative for inverted boxes; callers validate first)."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def check_xyxy(boxes: Tensor, name: str = "boxes") -> None:
    """Raise ValueError unless every box has x1 >= x0 and y1 >= y0.

    The official code asserts this before GIoU; inverted boxes (or cxcywh boxes passed by mistake,
    or NaNs) would silently give meaningless values.
    """
    if not bool((boxes[..., 2:] >= boxes[..., :2]).all()):
        raise ValueError(
            f"{name} must be xyxy boxes with x1 >= x0 and y1 >= y0 and no NaN; got degenerate boxes "
            f"(shape {tuple(boxes.shape)}). Were cxcywh boxes passed without conversion?"
        )


def _overlap_terms(boxes1: Tensor, boxes2: Tensor, eps: float = 0.0) -> Tuple[Tensor, Tensor, Tensor]:
    """IoU (intersection / (union + eps)), union area and smallest-enclosing-box area of broadcastable
    xyxy boxes [..., 4]."""
    inter_top_left = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    inter_bottom_right = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    inter_size = (inter_bottom_right - inter_top_left).clamp(min=0)
    intersection = inter_size[..., 0] * inter_size[..., 1]
    union = box_area(boxes1) + box_area(boxes2) - intersection
    hull_top_left = torch.minimum(boxes1[..., :2], boxes2[..., :2])
    hull_bottom_right = torch.maximum(boxes1[..., 2:], boxes2[..., 2:])
    hull_size = (hull_bottom_right - hull_top_left).clamp(min=0)
    hull = hull_size[..., 0] * hull_size[..., 1]
    return intersection / (union + eps), union, hull


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tuple[Tensor, Tensor]:
    """Pairwise IoU of xyxy boxes [N, 4] and [M, 4] -> (iou [N, M], union [N, M])."""
    iou, union, _ = _overlap_terms(boxes1[:, None, :], boxes2[None, :, :])
    return iou, union


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise generalized IoU (Rezatofighi et al. 2019, Alg. 1) of xyxy boxes [N, 4], [M, 4] -> [N, M].

    Raises ValueError for inverted boxes (x1 < x0 or y1 < y0), where the official code asserts.
    """
    check_xyxy(boxes1, "boxes1")
    check_xyxy(boxes2, "boxes2")
    iou, union, hull = _overlap_terms(boxes1[:, None, :], boxes2[None, :, :])
    return iou - (hull - union) / hull


def paired_generalized_box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 0.0) -> Tensor:
    """Generalized IoU of corresponding xyxy boxes [N, 4], [N, 4] -> [N].

    Equals ``generalized_box_iou(boxes1, boxes2).diagonal()`` without the N x N matrix.
    eps: added to the union and hull denominators (official DAB-DETR, DN-DETR and DINO box_ops: 1e-6;
    DETR, Deformable/Conditional DETR, SMCA: none). Adding 0.0 leaves every value unchanged.
    """
    if boxes1.shape != boxes2.shape:
        raise ValueError(f"paired boxes need equal shapes, got {tuple(boxes1.shape)} and {tuple(boxes2.shape)}")
    check_xyxy(boxes1, "boxes1")
    check_xyxy(boxes2, "boxes2")
    iou, union, hull = _overlap_terms(boxes1, boxes2, eps)
    return iou - (hull - union) / (hull + eps)



def boxes_from_reference_logits(delta: Tensor, reference_logits: Tensor) -> Tensor:
    """sigmoid(delta + reference_logits) on the reference's coordinates.

    delta: [..., 4] raw box-head output (cx, cy, w, h); reference_logits: [..., 2] (cx, cy) or
    [..., 4] (cx, cy, w, h), broadcastable to delta. With a 2-d reference only cx, cy get the
    offset and w, h are sigmoid(delta) (no size prior). Returns [..., 4] normalised cxcywh.
    """
    size = reference_logits.shape[-1]
    if size == 4:
        return (delta + reference_logits).sigmoid()
    if size != 2:
        raise ValueError(f"reference must have 2 or 4 coordinates, got {size}")
    centre = delta[..., :2] + reference_logits
    return torch.cat((centre, delta[..., 2:]), dim=-1).sigmoid()


def boxes_from_reference(delta: Tensor, reference: Tensor, eps: float = 1e-5) -> Tensor:
    """As ``boxes_from_reference_logits`` with a reference in sigmoid space ([..., 2 | 4] in (0, 1));
    ``eps``: the clamp of ``inverse_sigmoid`` (official Deformable DETR 1e-5, DAB-DETR and DINO 1e-3)."""
    return boxes_from_reference_logits(delta, inverse_sigmoid(reference, eps))

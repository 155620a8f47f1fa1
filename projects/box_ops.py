"""Box format conversions and (generalized) IoU for the DETR family.

Boxes are float tensors whose last dimension holds 4 coordinates: either (cx, cy, w, h) or
(x0, y0, x1, y1). Every function works on any leading shape unless stated otherwise.
"""
from typing import Tuple

import torch
from torch import Tensor


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


def _overlap_terms(boxes1: Tensor, boxes2: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """IoU, union area and smallest-enclosing-box area of broadcastable xyxy boxes [..., 4]."""
    inter_top_left = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    inter_bottom_right = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    inter_size = (inter_bottom_right - inter_top_left).clamp(min=0)
    intersection = inter_size[..., 0] * inter_size[..., 1]
    union = box_area(boxes1) + box_area(boxes2) - intersection
    hull_top_left = torch.minimum(boxes1[..., :2], boxes2[..., :2])
    hull_bottom_right = torch.maximum(boxes1[..., 2:], boxes2[..., 2:])
    hull_size = (hull_bottom_right - hull_top_left).clamp(min=0)
    hull = hull_size[..., 0] * hull_size[..., 1]
    return intersection / union, union, hull


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


def paired_generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Generalized IoU of corresponding xyxy boxes [N, 4], [N, 4] -> [N].

    Equals ``generalized_box_iou(boxes1, boxes2).diagonal()`` without the N x N matrix.
    """
    if boxes1.shape != boxes2.shape:
        raise ValueError(f"paired boxes need equal shapes, got {tuple(boxes1.shape)} and {tuple(boxes2.shape)}")
    check_xyxy(boxes1, "boxes1")
    check_xyxy(boxes2, "boxes2")
    iou, union, hull = _overlap_terms(boxes1, boxes2)
    return iou - (hull - union) / hull

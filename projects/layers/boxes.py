"""Boxes predicted relative to a reference point or box (Deformable DETR App. A.3, Conditional DETR
Sec. 3.3, SMCA Eq. 12): the head predicts an offset in logit space, added to the reference's logit."""
import torch
from torch import Tensor

from .misc import inverse_sigmoid


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


def boxes_from_reference(delta: Tensor, reference: Tensor) -> Tensor:
    """As ``boxes_from_reference_logits`` with a reference in sigmoid space ([..., 2 | 4] in (0, 1))."""
    return boxes_from_reference_logits(delta, inverse_sigmoid(reference))

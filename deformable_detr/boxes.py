"""Box prediction relative to a reference point or box (Deformable DETR, Appendix A.3 / A.4)."""
import torch
from torch import Tensor

from projects.layers import inverse_sigmoid


def refine_reference(delta: Tensor, reference: Tensor) -> Tensor:
    """sigmoid(delta + inverse_sigmoid(reference)) on the reference's coordinates.

    delta: [..., 4] raw box-head output; reference: [..., 2] (cx, cy) or [..., 4] (cx, cy, w, h),
    in sigmoid space. With a 2-d reference only cx, cy get the offset and w, h are sigmoid(delta)
    (official). Returns [..., 4] normalised cxcywh.
    """
    size = reference.shape[-1]
    if size == 4:
        return (delta + inverse_sigmoid(reference)).sigmoid()
    if size != 2:
        raise ValueError(f"reference must have 2 or 4 coordinates, got {size}")
    centre = delta[..., :2] + inverse_sigmoid(reference)
    return torch.cat((centre, delta[..., 2:]), dim=-1).sigmoid()

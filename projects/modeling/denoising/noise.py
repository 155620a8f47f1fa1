"""Label and box noise of DN-DETR and DINO, with the official random draws in the official order.

Every draw takes ``generator`` (None = torch's global generator, which the official code uses, so
seeding it before the forward reproduces the official noise bit for bit on the same build).
"""
from typing import Optional

import torch
from torch import Tensor

from projects.layers.boxes import box_cxcywh_to_xyxy, box_xyxy_to_cxcywh


def flip_labels(labels: Tensor, ratio: float, num_classes: int,
                generator: Optional[torch.Generator] = None) -> Tensor:
    """labels [M] with each entry replaced, with probability ``ratio``, by a uniform class in
    [0, num_classes) (may be the same label, official). Draws: uniform [M], then one integer per
    replaced entry. ``ratio`` <= 0 draws nothing."""
    if ratio <= 0:
        return labels.clone()
    chance = torch.rand(labels.shape, generator=generator, device=labels.device)
    chosen = torch.nonzero(chance < ratio).view(-1)
    new_labels = torch.randint(0, num_classes, chosen.shape, generator=generator, dtype=chosen.dtype,
                               device=labels.device)
    return labels.scatter(0, chosen, new_labels)


def jitter_boxes(boxes: Tensor, scale: float, generator: Optional[torch.Generator] = None) -> Tensor:
    """DN-DETR box noise on cxcywh boxes [M, 4]: centre += u * (w/2, h/2) * scale, size += u * (w, h) * scale,
    u uniform in [-1, 1) per coordinate (one uniform [M, 4] draw), then clamp to [0, 1]. ``scale`` <= 0 draws
    nothing."""
    if scale <= 0:
        return boxes.clone()
    size = boxes[:, 2:]
    diff = torch.cat([size / 2, size], dim=1)
    uniform = torch.rand(boxes.shape, generator=generator, device=boxes.device, dtype=boxes.dtype)
    return (boxes + (uniform * 2 - 1.0) * diff * scale).clamp(min=0.0, max=1.0)


def jitter_box_corners(boxes: Tensor, scale: float, negative: Tensor,
                       generator: Optional[torch.Generator] = None) -> Tensor:
    """DINO box noise (DINO Sec. 3.3), in corner coordinates: every corner of the cxcywh boxes [M, 4] moves
    by sign * u * (w/2, h/2, w/2, h/2) * scale with u in [0, 1) for positives and [1, 2) for the rows where
    ``negative`` [M] is True; clamp the corners to [0, 1], back to cxcywh. Draws: integers {0, 1} [M, 4]
    (sign), then uniform [M, 4]. ``scale`` <= 0 draws nothing."""
    if scale <= 0:
        return boxes.clone()
    corners = box_cxcywh_to_xyxy(boxes)
    half_size = boxes[:, 2:] / 2
    diff = torch.cat([half_size, half_size], dim=1)
    sign = torch.randint(0, 2, boxes.shape, generator=generator, dtype=boxes.dtype, device=boxes.device) * 2.0 - 1.0
    magnitude = torch.rand(boxes.shape, generator=generator, dtype=boxes.dtype, device=boxes.device)
    magnitude = magnitude + negative[:, None].to(boxes.dtype)
    corners = (corners + magnitude * sign * diff * scale).clamp(min=0.0, max=1.0)
    return box_xyxy_to_cxcywh(corners)

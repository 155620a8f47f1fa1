"""Two-stage encoder proposals: every encoder token proposes one fixed box (two-stage Deformable DETR;
shared with DINO's mixed query selection)."""
from typing import Tuple

import torch
from torch import Tensor

from projects.layers.deformable.levels import level_sizes
from projects.layers.levels import valid_sizes

PROPOSAL_MIN_SIZE = 0.05  # level-0 proposal width/height, doubled per level (Deformable DETR paper Sec. 4.2)
PROPOSAL_VALID_RANGE = (0.01, 0.99)


def encoder_proposals(memory: Tensor, padding_mask: Tensor, spatial_shapes) -> Tuple[Tensor, Tensor]:
    """One fixed proposal per encoder token, and the memory with unusable tokens zeroed.

    memory: [B, S, C]; padding_mask: [B, S] bool; spatial_shapes: [L, 2] (H, W) or [(H, W)] (``level_sizes``)
    -> (memory [B, S, C], proposals [B, S, 4] cxcywh *logits*, +inf where unusable).

    Official (Deformable DETR and DINO alike): the centre is ((x + 0.5) / valid_W, (y + 0.5) / valid_H)
    of the token's level, the size 0.05 * 2^level; a proposal is unusable on padding or when a
    coordinate leaves (0.01, 0.99).
    """
    batch = memory.shape[0]
    proposals, start = [], 0
    for level, (height, width) in enumerate(level_sizes(spatial_shapes)):
        mask = padding_mask[:, start:start + height * width].view(batch, height, width)
        ys = torch.arange(height, dtype=torch.float32, device=memory.device)
        xs = torch.arange(width, dtype=torch.float32, device=memory.device)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack((grid_x, grid_y), -1)[None]  # [1, H, W, 2] (x, y)
        scale = valid_sizes(mask).view(batch, 1, 1, 2)
        centre = (grid.expand(batch, -1, -1, -1) + 0.5) / scale
        size = torch.full_like(centre, PROPOSAL_MIN_SIZE) * (2.0 ** level)
        proposals.append(torch.cat((centre, size), -1).view(batch, -1, 4))
        start += height * width
    proposals = torch.cat(proposals, 1)
    low, high = PROPOSAL_VALID_RANGE
    valid = ((proposals > low) & (proposals < high)).all(-1, keepdim=True)
    unusable = padding_mask[..., None] | ~valid
    proposals = torch.log(proposals / (1 - proposals)).masked_fill(unusable, float("inf"))
    return memory.masked_fill(unusable, 0.0), proposals

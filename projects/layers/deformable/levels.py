"""Flattening of multi-level feature maps and the reference-point geometry of Deformable DETR
(shared by every deformable-attention method: Deformable DETR, DAB-Deformable-DETR, DINO).

Tokens are ordered level-major, then row-major (y outer, x inner). Points are normalised (x, y)
in [0, 1] of the padded map; ``valid_ratios`` [B, L, 2] hold each level's (valid_w / W, valid_h / H).
"""
from typing import List, NamedTuple, Sequence, Tuple, Union

import torch
from torch import Tensor

from projects.layers.levels import valid_ratio


class FlatLevels(NamedTuple):
    """All levels flattened into one token sequence (S = sum_l H_l * W_l)."""

    src: Tensor  # [B, S, C]
    mask: Tensor  # [B, S] bool, True = padding
    pos: Tensor  # [B, S, C] positional + level embedding
    spatial_shapes: Tensor  # [L, 2] int64 (H_l, W_l)
    level_start_index: Tensor  # [L] int64
    valid_ratios: Tensor  # [B, L, 2] (w, h)
    level_shapes: List[Tuple[int, int]]  # spatial_shapes as Python sizes: loops over levels stay traceable


def flatten_levels(srcs: List[Tensor], masks: List[Tensor], pos_embeds: List[Tensor], level_embed: Tensor) -> FlatLevels:
    """srcs / pos_embeds: [B, C, H_l, W_l]; masks: [B, H_l, W_l]; level_embed: [L, C] -> FlatLevels.

    ``level_embed[l]`` is added to the positional embedding of level l, never to the features.
    """
    shapes = [tuple(src.shape[-2:]) for src in srcs]
    spatial_shapes = sizes_tensor(shapes, srcs[0].device)
    sizes = spatial_shapes.prod(1)
    level_start_index = torch.cat((sizes.new_zeros(1), sizes.cumsum(0)[:-1]))
    pos = [p.flatten(2).transpose(1, 2) + level_embed[l].view(1, 1, -1) for l, p in enumerate(pos_embeds)]
    return FlatLevels(
        src=torch.cat([src.flatten(2).transpose(1, 2) for src in srcs], 1),
        mask=torch.cat([mask.flatten(1) for mask in masks], 1),
        pos=torch.cat(pos, 1),
        spatial_shapes=spatial_shapes,
        level_start_index=level_start_index,
        valid_ratios=torch.stack([valid_ratio(mask) for mask in masks], 1),
        level_shapes=shapes,
    )


def sizes_tensor(shapes: Sequence[Tuple[int, int]], device) -> Tensor:
    """[(H_l, W_l)] -> [L, 2] int64. Built element-wise with ``scalar_tensor`` so that symbolic sizes
    stay symbolic under torch.export (``torch.as_tensor`` would specialise the graph to one size)."""
    return torch.stack([torch.stack([torch.scalar_tensor(size, dtype=torch.long, device=device) for size in shape])
                        for shape in shapes])


def level_sizes(spatial_shapes: Union[Tensor, Sequence[Tuple[int, int]]]) -> List[Tuple[int, int]]:
    """[(H_l, W_l)] from a [L, 2] tensor or a sequence of sizes. Pass ``FlatLevels.level_shapes`` (the
    feature maps' own sizes) to keep torch.compile/export graphs whole: reading a tensor's values
    there is a data-dependent graph break."""
    if isinstance(spatial_shapes, Tensor):
        return [tuple(size) for size in spatial_shapes.tolist()]
    return list(spatial_shapes)


def encoder_reference_points(spatial_shapes, valid_ratios: Tensor) -> Tensor:
    """Reference point of every encoder token on every level: [B, S, L, 2] (x, y).
    spatial_shapes: [L, 2] tensor or [(H_l, W_l)] (see ``level_sizes``).

    Official: the pixel centre (i + 0.5) is normalised by the *valid* size of the token's own
    level, then multiplied by each target level's valid ratio.
    """
    points = []
    for level, (height, width) in enumerate(level_sizes(spatial_shapes)):
        ys = torch.arange(height, dtype=torch.float32, device=valid_ratios.device) + 0.5
        xs = torch.arange(width, dtype=torch.float32, device=valid_ratios.device) + 0.5
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        ref_y = grid_y.reshape(-1)[None] / (valid_ratios[:, None, level, 1] * height)
        ref_x = grid_x.reshape(-1)[None] / (valid_ratios[:, None, level, 0] * width)
        points.append(torch.stack((ref_x, ref_y), -1))
    return torch.cat(points, 1)[:, :, None] * valid_ratios[:, None]


def reference_points_per_level(reference: Tensor, valid_ratios: Tensor) -> Tensor:
    """Decoder references [B, Q, 2 | 4] (normalised to the valid image) -> [B, Q, L, 2 | 4] on each
    level's padded map: x and w scale by valid_w, y and h by valid_h."""
    if reference.shape[-1] == 4:
        valid_ratios = torch.cat((valid_ratios, valid_ratios), -1)
    return reference[:, :, None] * valid_ratios[:, None]

"""Per-level input projections: backbone levels to the transformer width, plus extra coarser levels.

A backbone level gets a 1x1 conv; each extra level a 3x3 stride-2 conv, the first on the *raw*
last backbone map, later ones on the previous extra level (official Deformable DETR; SMCA's
multi-scale stride-64 level likewise). An extra level's mask is the pixel mask resized to it.
"""
from typing import List, Sequence, Tuple

from torch import Tensor, nn

from projects.layers.levels import downsample_mask

GROUP_NORM_GROUPS = 32

Levels = List[Tuple[Tensor, Tensor]]


def level_projection(in_channels: int, hidden_dim: int, extra: bool = False, group_norm: bool = False) -> nn.Module:
    """A 1x1 conv (``extra``: 3x3 stride 2); with ``group_norm`` an ``nn.Sequential(conv, GroupNorm(32))``
    whose submodules ``0``, ``1`` are the official checkpoint names."""
    kernel, stride, padding = (3, 2, 1) if extra else (1, 1, 0)
    conv = nn.Conv2d(in_channels, hidden_dim, kernel_size=kernel, stride=stride, padding=padding)
    if not group_norm:
        return conv
    if hidden_dim % GROUP_NORM_GROUPS:
        raise ValueError(f"hidden_dim must be divisible by {GROUP_NORM_GROUPS} (GroupNorm), got {hidden_dim}")
    return nn.Sequential(conv, nn.GroupNorm(GROUP_NORM_GROUPS, hidden_dim))


def build_level_projections(in_channels: Sequence[int], hidden_dim: int, num_extra: int,
                            group_norm: bool = False) -> Tuple[List[nn.Module], List[nn.Module]]:
    """(one projection per backbone level, ``num_extra`` extra-level projections), created in that order."""
    backbone = [level_projection(c, hidden_dim, group_norm=group_norm) for c in in_channels]
    extra_in = [in_channels[-1]] + [hidden_dim] * (num_extra - 1)
    extra = [level_projection(c, hidden_dim, extra=True, group_norm=group_norm) for c in extra_in[:num_extra]]
    return backbone, extra


def project_levels(backbone_projections: Sequence[nn.Module], extra_projections: Sequence[nn.Module],
                   levels: Levels, pixel_mask: Tensor) -> Levels:
    """levels: backbone [(feature [B, C_l, H_l, W_l], mask [B, H_l, W_l])]; pixel_mask: [B, H, W]
    -> [(src [B, D, H_l, W_l], mask [B, H_l, W_l])] for the backbone levels, then the extra levels.

    Official: an extra level's mask is the pixel mask resized to that level (nearest), *not*
    derived from the previous level's mask; it can mark cells over padding as valid.
    """
    if len(levels) != len(backbone_projections):
        raise ValueError(f"Expected {len(backbone_projections)} backbone levels, got {len(levels)}")
    outputs = [(projection(feature), mask) for projection, (feature, mask) in zip(backbone_projections, levels)]
    previous = levels[-1][0]
    for projection in extra_projections:
        previous = projection(previous)
        outputs.append((previous, downsample_mask(pixel_mask, previous.shape[-2:])))
    return outputs


class InputProjections(nn.ModuleList):
    """All levels' projections in one list, each conv + GroupNorm (Deformable DETR's ``input_proj``).

    Entry l < len(in_channels) projects backbone level l, the rest are the extra levels, so
    parameters keep the official names ``input_proj.<l>.0`` (conv) and ``input_proj.<l>.1`` (GN).
    """

    def __init__(self, in_channels: Sequence[int], hidden_dim: int, num_levels: int):
        if num_levels < len(in_channels):
            raise ValueError(f"NUM_FEATURE_LEVELS ({num_levels}) is smaller than the number of backbone "
                             f"levels ({len(in_channels)}); list fewer MODEL.DETR.IN_FEATURES")
        backbone, extra = build_level_projections(in_channels, hidden_dim, num_levels - len(in_channels),
                                                  group_norm=True)
        super().__init__(backbone + extra)
        self.num_backbone_levels = len(in_channels)
        self.reset_parameters()

    def reset_parameters(self):
        # official: xavier-uniform convs with zero bias; GroupNorm keeps (1, 0)
        for projection in self:
            nn.init.xavier_uniform_(projection[0].weight, gain=1)
            nn.init.zeros_(projection[0].bias)

    def forward(self, levels: Levels, pixel_mask: Tensor) -> Levels:
        """See ``project_levels``: returns all ``len(self)`` levels."""
        projections = list(self)
        return project_levels(projections[:self.num_backbone_levels], projections[self.num_backbone_levels:],
                              levels, pixel_mask)

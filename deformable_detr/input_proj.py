"""Multi-level input projections of Deformable DETR (backbone levels + extra stride-2 levels)."""
from typing import List, Sequence, Tuple

from torch import Tensor, nn

from projects.backbone import downsample_mask

GROUP_NORM_GROUPS = 32


def _projection(in_channels, hidden_dim, kernel_size, stride, padding):
    """Conv2d + GroupNorm(32); submodules ``0`` and ``1`` as in official checkpoints."""
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden_dim, kernel_size=kernel_size, stride=stride, padding=padding),
        nn.GroupNorm(GROUP_NORM_GROUPS, hidden_dim),
    )


class InputProjections(nn.ModuleList):
    """Projects backbone levels to ``hidden_dim`` and appends the extra downsampled levels.

    Entry l < len(in_channels) is a 1x1 conv + GN on backbone level l. Each further entry is a 3x3
    stride-2 conv + GN: the first one reads the *raw* last backbone map, later ones the previous
    projected level (official). A ModuleList, so parameters keep the official names
    ``input_proj.<l>.0`` (conv) and ``input_proj.<l>.1`` (GN).
    """

    def __init__(self, in_channels: Sequence[int], hidden_dim: int, num_levels: int):
        if num_levels < len(in_channels):
            raise ValueError(f"NUM_FEATURE_LEVELS ({num_levels}) is smaller than the number of backbone "
                             f"levels ({len(in_channels)}); list fewer MODEL.DETR.IN_FEATURES")
        if hidden_dim % GROUP_NORM_GROUPS:
            raise ValueError(f"hidden_dim must be divisible by {GROUP_NORM_GROUPS} (GroupNorm), got {hidden_dim}")
        projections = [_projection(c, hidden_dim, 1, 1, 0) for c in in_channels]
        extra_in = in_channels[-1]
        for _ in range(num_levels - len(in_channels)):
            projections.append(_projection(extra_in, hidden_dim, 3, 2, 1))
            extra_in = hidden_dim
        super().__init__(projections)
        self.num_backbone_levels = len(in_channels)
        self.reset_parameters()

    def reset_parameters(self):
        # official: xavier-uniform convs with zero bias; GroupNorm keeps (1, 0)
        for projection in self:
            nn.init.xavier_uniform_(projection[0].weight, gain=1)
            nn.init.zeros_(projection[0].bias)

    def forward(self, levels: List[Tuple[Tensor, Tensor]], pixel_mask: Tensor) -> List[Tuple[Tensor, Tensor]]:
        """levels: backbone [(feature [B, C_l, H_l, W_l], mask [B, H_l, W_l])]; pixel_mask: [B, H, W]
        -> [(src [B, D, H_l, W_l], mask [B, H_l, W_l])] for all ``len(self)`` levels.

        Official: an extra level's mask is the pixel mask resized to that level (nearest), *not*
        derived from the previous level's mask; it can mark cells over padding as valid.
        """
        if len(levels) != self.num_backbone_levels:
            raise ValueError(f"Expected {self.num_backbone_levels} backbone levels, got {len(levels)}")
        outputs = [(projection(feature), mask) for projection, (feature, mask) in zip(self, levels)]
        previous = levels[-1][0]
        for projection in list(self)[self.num_backbone_levels:]:
            src = projection(previous)
            outputs.append((src, downsample_mask(pixel_mask, src.shape[-2:])))
            previous = src
        return outputs

"""Deformable transformer encoder: multi-scale deformable self-attention over all level tokens
(Deformable DETR; shared with DAB-Deformable-DETR and DINO)."""
from torch import Tensor, nn

from projects.layers import clone_modules
from projects.layers.transformer import FeedForward, with_pos
from projects.layers.deformable.levels import FlatLevels, encoder_reference_points


class DeformableEncoderLayer(nn.Module):
    """Post-norm layer: deformable self-attention -> norm1 -> FFN -> norm2 (official)."""

    def __init__(self, attention: nn.Module, d_model: int, dim_feedforward: int, dropout: float,
                 activation: str = "relu"):
        """attention: an ``MSDeformAttn`` (query, reference_points, value, shapes, starts, mask) module."""
        super().__init__()
        self.self_attn = attention
        self.norm1 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, dim_feedforward, dropout, activation)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, src: Tensor, pos: Tensor, reference_points: Tensor, levels: FlatLevels) -> Tensor:
        """src, pos: [B, S, C]; reference_points: [B, S, L, 2] -> [B, S, C].

        The query carries the position, the sampled value is ``src`` without it (official).
        """
        attended = self.self_attn(with_pos(src, pos), reference_points, src, levels.spatial_shapes,
                                  levels.level_start_index, levels.mask)
        src = self.norm1(src + self.dropout1(attended))
        return self.norm2(src + self.dropout2(self.ffn(src)))


class DeformableEncoder(nn.Module):
    """A stack of encoder layers (no final norm)."""

    def __init__(self, layer: DeformableEncoderLayer, num_layers: int):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)

    def forward(self, levels: FlatLevels) -> Tensor:
        """levels: the flattened input (``src`` [B, S, C]) -> memory [B, S, C]."""
        reference_points = encoder_reference_points(levels.level_shapes, levels.valid_ratios)
        output = levels.src
        for layer in self.layers:
            output = layer(output, levels.pos, reference_points, levels)
        return output

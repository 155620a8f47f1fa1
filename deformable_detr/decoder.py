"""Deformable transformer decoder with optional iterative bounding-box refinement."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from projects.layers import clone_modules
from projects.layers.boxes import boxes_from_reference
from projects.layers.transformer import FeedForward, with_pos

from .levels import FlatLevels, reference_points_per_level


class DeformableDecoderLayer(nn.Module):
    """Query self-attention -> norm2, deformable cross-attention -> norm1, FFN -> norm3 (post-norm).

    The norm names do not follow execution order; they are the official ones, so checkpoints map 1:1.
    """

    def __init__(self, attention: nn.Module, d_model: int, nhead: int, dim_feedforward: int, dropout: float,
                 activation: str = "relu"):
        """attention: an ``MSDeformAttn`` used as cross-attention into the encoder memory."""
        super().__init__()
        self.cross_attn = attention
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, dim_feedforward, dropout, activation)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, tgt: Tensor, query_pos: Tensor, reference_points: Tensor, memory: Tensor,
                levels: FlatLevels) -> Tensor:
        """tgt, query_pos: [B, Q, C]; reference_points: [B, Q, L, 2 | 4]; memory: [B, S, C] -> [B, Q, C]."""
        q = k = with_pos(tgt, query_pos)
        attended = self.self_attn(q, k, tgt, need_weights=False)[0]
        tgt = self.norm2(tgt + self.dropout2(attended))
        attended = self.cross_attn(with_pos(tgt, query_pos), reference_points, memory, levels.spatial_shapes,
                                   levels.level_start_index, levels.mask)
        tgt = self.norm1(tgt + self.dropout1(attended))
        return self.norm3(tgt + self.dropout3(self.ffn(tgt)))


class DeformableDecoder(nn.Module):
    """A stack of decoder layers returning every layer's output and the reference it used (no final norm)."""

    def __init__(self, layer: DeformableDecoderLayer, num_layers: int):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)

    def forward(self, tgt: Tensor, query_pos: Tensor, reference: Tensor, memory: Tensor, levels: FlatLevels,
                box_heads: Optional[Sequence[nn.Module]] = None) -> Tuple[Tensor, List[Tensor]]:
        """
        Args:
            tgt, query_pos: [B, Q, C] content and positional queries.
            reference: [B, Q, 2 | 4] initial reference (sigmoid space, relative to the valid image).
            memory: [B, S, C] encoder output; levels: the flattened encoder input (shapes, mask, ratios).
            box_heads: with iterative refinement, one box MLP per layer: after layer i the reference
                becomes box_heads[i](output) applied to it, *detached* (no gradient through the
                previous box, paper Sec. 4.2 / Appendix A.4). None keeps the reference fixed.

        Returns:
            hs [L, B, Q, C] (every layer's output) and the L references [B, Q, 2 | 4] the layers
            received (each layer's box is predicted relative to its own). With refinement and a 2-d
            initial reference, layer 0's update turns it into a box, so later references are 4-d.
        """
        outputs, references = [], []
        for index, layer in enumerate(self.layers):
            references.append(reference)
            reference_input = reference_points_per_level(reference, levels.valid_ratios)
            tgt = layer(tgt, query_pos, reference_input, memory, levels)
            outputs.append(tgt)
            if box_heads is not None:
                reference = boxes_from_reference(box_heads[index](tgt), reference).detach()
        return torch.stack(outputs), references

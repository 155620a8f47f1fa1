"""The deformable decoder layer (Deformable DETR; shared with DAB-Deformable-DETR and DINO)."""
from typing import Optional

from torch import Tensor, nn

from projects.layers.deformable.levels import FlatLevels
from projects.layers.transformer import FeedForward, with_pos


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
                levels: FlatLevels, self_attn_mask: Optional[Tensor] = None) -> Tensor:
        """tgt, query_pos: [B, Q, C]; reference_points: [B, Q, L, 2 | 4]; memory: [B, S, C];
        self_attn_mask: optional [Q, Q] bool, True = query i may not attend to query j (denoising
        groups) -> [B, Q, C]."""
        q = k = with_pos(tgt, query_pos)
        attended = self.self_attn(q, k, tgt, attn_mask=self_attn_mask, need_weights=False)[0]
        tgt = self.norm2(tgt + self.dropout2(attended))
        attended = self.cross_attn(with_pos(tgt, query_pos), reference_points, memory, levels.spatial_shapes,
                                   levels.level_start_index, levels.mask)
        tgt = self.norm1(tgt + self.dropout1(attended))
        return self.norm3(tgt + self.dropout3(self.ffn(tgt)))

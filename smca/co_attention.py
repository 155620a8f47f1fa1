"""Spatially modulated co-attention: decoder cross-attention with log G added to the logits.

Both modules share one call signature, so a decoder layer works with either:
``attn(query [B, Q, C], keys [[B, S_l, C]], values [[B, S_l, C]], biases [[B, G, Q, S_l]],
scale_weights [B, Q, L] or None) -> [B, Q, C]``. ``biases`` are log G with -inf at padded keys;
G is the number of heads (or 1 for a head-shared prior, broadcast to every head).
"""
from typing import List, Optional

import torch
from torch import nn
from torch.nn import functional as F

from projects.layers.misc import merge_heads, split_heads


def padded_log_weights(log_weights, padding_mask):
    """log G [B, G, Q, S] with -inf at padded keys (padding_mask [B, S], True = padding).

    Official order: the logits get -inf at padding first, then log G is added; -inf + g = -inf,
    so folding both into one additive bias is the same.
    """
    return log_weights.masked_fill(padding_mask[:, None, None, :], float("-inf"))


class GaussianCoAttention(nn.Module):
    """Single-level SMCA co-attention (paper Eq. 4): softmax(q k^T / sqrt(d) + log G) v.

    ``attn`` is a standard nn.MultiheadAttention (official GaussianMultiheadAttention has the same
    parameters); the bias enters through its additive ``attn_mask`` ([B * H, Q, S], batch-major).
    """

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0):
        super().__init__()
        self.nhead = nhead
        self.attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)

    def forward(self, query, keys: List[torch.Tensor], values: List[torch.Tensor], biases: List[torch.Tensor],
                scale_weights: Optional[torch.Tensor] = None):
        if len(keys) != 1 or scale_weights is not None:
            raise ValueError("GaussianCoAttention attends to one level without scale selection")
        batch, _, queries, keys_len = biases[0].shape
        bias = biases[0].expand(batch, self.nhead, queries, keys_len).reshape(batch * self.nhead, queries, keys_len)
        return self.attn(query, keys[0], values[0], attn_mask=bias.to(query.dtype), need_weights=False)[0]


class ScaleSelectionAttention(nn.Module):
    """Multi-scale SMCA co-attention with scale selection (paper Eq. 7-9).

    For each scale j: C_j = softmax_j(q k_j^T / sqrt(d) + log G_j) v_j, a softmax over that scale's
    tokens only, with key/value projections of scale j; then C = sum_j alpha_j C_j with the
    per-query scale weights alpha (softmax over scales, computed by the caller). Without scale
    selection (``scale_weights=None``), one softmax runs over the tokens of all scales.
    """

    def __init__(self, d_model: int, nhead: int, num_levels: int, dropout: float = 0.0,
                 shared_projections: bool = False):
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"d_model {d_model} is not divisible by nhead {nhead}")
        self.nhead = nhead
        self.num_levels = num_levels
        self.dropout = dropout
        num_projections = 1 if shared_projections else num_levels
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_projs = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(num_projections))
        self.v_projs = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(num_projections))
        self.out_proj = nn.Linear(d_model, d_model)

    def _projected(self, keys, values):
        """Per-level projected keys and values, each [B, H, S_l, C / H]."""
        projected = []
        for level, (key, value) in enumerate(zip(keys, values)):
            index = level if len(self.k_projs) > 1 else 0
            projected.append((split_heads(self.k_projs[index](key), self.nhead),
                              split_heads(self.v_projs[index](value), self.nhead)))
        return projected

    def level_outputs(self, query, keys, values, biases) -> List[torch.Tensor]:
        """C_j of every level before the scale weighting: [[B, H, Q, C / H]] (softmax within level j)."""
        if len(keys) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} levels, got {len(keys)}")
        q = split_heads(self.q_proj(query), self.nhead)
        dropout = self.dropout if self.training else 0.0
        return [
            F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=dropout)
            for (k, v), bias in zip(self._projected(keys, values), biases)
        ]

    def forward(self, query, keys, values, biases, scale_weights: Optional[torch.Tensor] = None):
        if scale_weights is None:
            attended = self._joint_output(query, keys, values, biases)
        else:
            outputs = self.level_outputs(query, keys, values, biases)
            weights = scale_weights.transpose(1, 2)[..., None]  # [B, L, Q, 1]
            attended = sum(weights[:, None, level] * out for level, out in enumerate(outputs))
        return self.out_proj(merge_heads(attended))

    def _joint_output(self, query, keys, values, biases):
        """One softmax over the tokens of all levels (the "w/o scale selection" ablation): [B, H, Q, C / H]."""
        q = split_heads(self.q_proj(query), self.nhead)
        projected = self._projected(keys, values)
        k = torch.cat([k for k, _ in projected], dim=2)
        v = torch.cat([v for _, v in projected], dim=2)
        batch, heads, queries, _ = q.shape
        bias = torch.cat([b.expand(batch, heads, queries, b.shape[-1]) for b in biases], dim=-1)
        dropout = self.dropout if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=dropout)

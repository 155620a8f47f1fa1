"""Conditional cross-attention (Conditional DETR, Meng et al. 2021; reused by DAB-DETR and successors).

The decoder layer projects queries, keys and values with its own Linear layers (official names
``ca_qcontent_proj`` etc. live on the layer), so the attention module here has no input
projection, only ``out_proj``. Queries and keys are the per-head concatenation of a content and a
spatial half (2C wide), values are C wide.
"""
import torch
from torch import nn

from projects.layers.misc import merge_heads, split_heads


def concat_per_head(content, spatial, num_heads):
    """Concatenate two [B, N, C] tensors head by head -> [B, N, 2C].

    Head h of the result is [content head h ; spatial head h], i.e. the channels interleave
    content and spatial per head (official Conditional DETR), not [all content ; all spatial].
    """
    batch, length, channels = content.shape
    head_dim = channels // num_heads
    pairs = torch.cat((content.view(batch, length, num_heads, head_dim),
                       spatial.view(batch, length, num_heads, head_dim)), dim=3)
    return pairs.view(batch, length, 2 * channels)


class PreProjectedAttention(nn.Module):
    """Scaled dot-product attention with ``num_heads`` heads, then ``out_proj`` (value_dim -> value_dim).

    The score scale is 1/sqrt(query head dim): 1/sqrt(2C/H) for the concatenated conditional
    cross-attention queries. Dropout acts on the attention weights (official behaviour).
    """

    def __init__(self, value_dim, num_heads, dropout=0.0):
        super().__init__()
        if value_dim % num_heads:
            raise ValueError(f"value_dim {value_dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.out_proj = nn.Linear(value_dim, value_dim)
        self.dropout = nn.Dropout(dropout)

    def attention_probs(self, query, key, key_padding_mask=None, attn_mask=None):
        """query: [B, Q, D]; key: [B, S, D]; key_padding_mask: [B, S] (True = ignore); attn_mask: [Q, S]
        bool (True = query i may not attend to key j, e.g. denoising groups) -> [B, H, Q, S]."""
        query = split_heads(query, self.num_heads)
        key = split_heads(key, self.num_heads)
        scores = (query * query.shape[-1] ** -0.5) @ key.transpose(-2, -1)
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask, float("-inf"))
        return scores.softmax(dim=-1)

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        """query: [B, Q, D]; key: [B, S, D]; value: [B, S, C]; key_padding_mask: [B, S]; attn_mask: [Q, S]
        -> [B, Q, C]."""
        probs = self.dropout(self.attention_probs(query, key, key_padding_mask, attn_mask))
        return self.out_proj(merge_heads(probs @ split_heads(value, self.num_heads)))


def conditional_cross_attention(attention: PreProjectedAttention, content_query, spatial_query, content_key, key_pos,
                                value, key_padding_mask=None, query_pos=None):
    """Conditional cross-attention (paper eq. 1-2): per head, query = [content ; spatial query] and
    key = [content ; key position]; all inputs already projected.

    content_query, spatial_query: [B, Q, C]; content_key, key_pos, value: [B, S, C];
    key_padding_mask: [B, S] (True = padding). ``query_pos`` [B, Q, C] (official: the first
    decoder layer only) is also added to the content query, and then ``key_pos`` to the content
    key, DETR-style, besides the concatenation. Returns [B, Q, C].
    """
    if query_pos is not None:
        content_query = content_query + query_pos
        content_key = content_key + key_pos
    heads = attention.num_heads
    return attention(concat_per_head(content_query, spatial_query, heads), concat_per_head(content_key, key_pos, heads),
                     value, key_padding_mask=key_padding_mask)

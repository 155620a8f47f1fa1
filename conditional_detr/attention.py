"""Multi-head attention over inputs that are already projected (Conditional DETR's decoder attention).

Conditional DETR computes its queries, keys and values with explicit Linear layers in the decoder
layer, so its attention module has no input projection, only the output projection. Query and key
may be wider than the value: the cross-attention concatenates a content and a spatial half per head
(2C-wide queries/keys, C-wide values).
"""
import torch
from torch import nn


def split_heads(x, num_heads):
    """x: [B, N, C] -> [B, H, N, C / H]."""
    batch, length, channels = x.shape
    return x.view(batch, length, num_heads, channels // num_heads).transpose(1, 2)


def merge_heads(x):
    """x: [B, H, N, D] -> [B, N, H * D]."""
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)


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

    The score scale is 1/sqrt(query head dim): 1/sqrt(2C/H) for Conditional DETR's concatenated
    cross-attention queries. Dropout acts on the attention weights (official behaviour).
    """

    def __init__(self, value_dim, num_heads, dropout=0.0):
        super().__init__()
        if value_dim % num_heads:
            raise ValueError(f"value_dim {value_dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.out_proj = nn.Linear(value_dim, value_dim)
        self.dropout = nn.Dropout(dropout)

    def attention_probs(self, query, key, key_padding_mask=None):
        """query: [B, Q, D]; key: [B, S, D]; key_padding_mask: [B, S] (True = ignore) -> [B, H, Q, S]."""
        query = split_heads(query, self.num_heads)
        key = split_heads(key, self.num_heads)
        scores = (query * query.shape[-1] ** -0.5) @ key.transpose(-2, -1)
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        return scores.softmax(dim=-1)

    def forward(self, query, key, value, key_padding_mask=None):
        """query: [B, Q, D]; key: [B, S, D]; value: [B, S, C]; key_padding_mask: [B, S] -> [B, Q, C]."""
        probs = self.dropout(self.attention_probs(query, key, key_padding_mask))
        return self.out_proj(merge_heads(probs @ split_heads(value, self.num_heads)))

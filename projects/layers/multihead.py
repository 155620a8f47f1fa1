"""Reshaping between [B, N, C] token tensors and per-head [B, H, N, C / H] tensors."""


def split_heads(x, num_heads):
    """x: [B, N, C] -> [B, H, N, C / H]."""
    batch, length, channels = x.shape
    return x.view(batch, length, num_heads, channels // num_heads).transpose(1, 2)


def merge_heads(x):
    """x: [B, H, N, D] -> [B, N, H * D]."""
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)

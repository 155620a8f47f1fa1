"""Transformer parts shared by the DETR family (batch-first: tokens [B, S, C], masks [B, S], True = padding).

Submodule names follow the official DETR layout (``self_attn``, ``norm1..3``, ``dropout1..3``, the
FFN's ``linear1``/``linear2`` grouped under ``ffn``), so official checkpoints map by rename rules.
"""
from torch import nn
from torch.nn import functional as F

from projects.layers.misc import activation_by_name, clone_modules


def with_pos(tensor, pos):
    """tensor + pos, where pos may be None."""
    return tensor if pos is None else tensor + pos


class FeedForward(nn.Module):
    """linear1 -> activation -> dropout -> linear2: [..., C] -> [..., C].

    ``activation`` "prelu" (official DAB-DETR) is a learned ``nn.PReLU`` (one slope) under the name
    ``activation``, so its parameter is ``activation.weight`` as in the official checkpoints.
    """

    def __init__(self, d_model, dim_feedforward, dropout, activation="relu"):
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.dropout = nn.Dropout(dropout)
        self.activation = nn.PReLU() if activation == "prelu" else activation_by_name(activation)

    def forward(self, x):
        hidden = self.linear1(x)
        # ReLU in place on linear1's fresh output (Linear's backward keeps its input, not its output):
        # the widest activation of the model is then not allocated twice
        hidden = F.relu_(hidden) if self.activation is F.relu else self.activation(hidden)
        return self.linear2(self.dropout(hidden))


class TransformerEncoderLayer(nn.Module):
    """Self-attention + FFN; positions are added to queries and keys, never to values."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", normalize_before=False):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.ffn = FeedForward(d_model, dim_feedforward, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.normalize_before = normalize_before

    def forward(self, src, padding_mask=None, pos=None):
        """src: [B, S, C]; padding_mask: [B, S]; pos: [B, S, C] -> [B, S, C]."""
        x = self.norm1(src) if self.normalize_before else src
        q = k = with_pos(x, pos)
        src = src + self.dropout1(self.self_attn(q, k, x, key_padding_mask=padding_mask, need_weights=False)[0])
        if not self.normalize_before:
            src = self.norm1(src)
        x = self.norm2(src) if self.normalize_before else src
        src = src + self.dropout2(self.ffn(x))
        return src if self.normalize_before else self.norm2(src)


class TransformerEncoder(nn.Module):
    """A stack of encoder layers with an optional final norm (official: only for pre-norm)."""

    def __init__(self, layer, num_layers, norm=None):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)
        self.norm = norm

    def forward(self, src, padding_mask=None, pos=None):
        """src: [B, S, C] -> memory [B, S, C]."""
        for layer in self.layers:
            src = layer(src, padding_mask=padding_mask, pos=pos)
        return src if self.norm is None else self.norm(src)


class DecoderLayerBase(nn.Module):
    """The parts every DETR-family decoder layer shares: an FFN and, for its three sub-blocks
    (self-attention, cross-attention, FFN), ``norm1..3`` and ``dropout1..3`` (official names)."""

    def __init__(self, d_model, dim_feedforward, dropout, activation):
        super().__init__()
        self.ffn = FeedForward(d_model, dim_feedforward, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

"""The original DETR encoder-decoder transformer (Carion et al. 2020), batch-first.

Tensors are batch-first throughout: memory [B, S, C], queries [B, Q, C], key padding masks [B, S]
(True = padding). Submodule names follow the official layout so official checkpoints map 1:1.
"""
import torch
from torch import nn

from ..layers import activation_by_name, clone_modules, xavier_init_matrices


def with_pos(tensor, pos):
    """tensor + pos, where pos may be None."""
    return tensor if pos is None else tensor + pos


class FeedForward(nn.Module):
    """linear1 -> activation -> dropout -> linear2: [..., C] -> [..., C]."""

    def __init__(self, d_model, dim_feedforward, dropout, activation="relu"):
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.dropout = nn.Dropout(dropout)
        self.activation = activation_by_name(activation)

    def forward(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


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


class TransformerDecoderLayer(DecoderLayerBase):
    """Self-attention over queries, cross-attention into the memory, FFN (post- or pre-norm)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", normalize_before=False):
        super().__init__(d_model, dim_feedforward, dropout, activation)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.normalize_before = normalize_before

    def _pre(self, norm, x):
        return norm(x) if self.normalize_before else x

    def _post(self, norm, x):
        return x if self.normalize_before else norm(x)

    def forward(self, tgt, memory, memory_padding_mask=None, pos=None, query_pos=None):
        """tgt: [B, Q, C]; memory: [B, S, C]; memory_padding_mask: [B, S]; pos: [B, S, C]; query_pos: [B, Q, C]."""
        x = self._pre(self.norm1, tgt)
        q = k = with_pos(x, query_pos)
        tgt = self._post(self.norm1, tgt + self.dropout1(self.self_attn(q, k, x, need_weights=False)[0]))
        x = self._pre(self.norm2, tgt)
        attended = self.multihead_attn(
            with_pos(x, query_pos), with_pos(memory, pos), memory,
            key_padding_mask=memory_padding_mask, need_weights=False,
        )[0]
        tgt = self._post(self.norm2, tgt + self.dropout2(attended))
        x = self._pre(self.norm3, tgt)
        return self._post(self.norm3, tgt + self.dropout3(self.ffn(x)))


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


class TransformerDecoder(nn.Module):
    """A stack of decoder layers; the shared final norm is applied to every layer's output.

    Official: the next layer receives the un-normalised output; ``norm`` produces what the heads see.
    """

    def __init__(self, layer, num_layers, norm):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)
        self.norm = norm

    def forward(self, tgt, memory, memory_padding_mask=None, pos=None, query_pos=None):
        """tgt: [B, Q, C] -> hs [L, B, Q, C] (every layer, after the final norm)."""
        states = []
        for layer in self.layers:
            tgt = layer(tgt, memory, memory_padding_mask=memory_padding_mask, pos=pos, query_pos=query_pos)
            states.append(self.norm(tgt))
        return torch.stack(states)


class Transformer(nn.Module):
    """DETR's transformer: encoder over flattened features, decoder over learned query positions."""

    def __init__(self, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", normalize_before=False):
        super().__init__()
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, normalize_before)
        encoder_norm = nn.LayerNorm(d_model) if normalize_before else None
        self.encoder = TransformerEncoder(TransformerEncoderLayer(*layer_args), num_encoder_layers, encoder_norm)
        self.decoder = TransformerDecoder(TransformerDecoderLayer(*layer_args), num_decoder_layers, nn.LayerNorm(d_model))
        self.d_model = d_model
        self._reset_parameters()

    def _reset_parameters(self):
        # official: xavier_uniform on every matrix of the transformer (fused q/k/v as one matrix)
        xavier_init_matrices(self)

    def forward(self, src, mask, query_embed, pos):
        """src: [B, C, H, W]; mask: [B, H, W]; query_embed: [Q, C]; pos: [B, C, H, W]
        -> (hs [L, B, Q, C], memory [B, H*W, C])."""
        batch = src.shape[0]
        src = src.flatten(2).transpose(1, 2)
        pos = pos.flatten(2).transpose(1, 2)
        mask = mask.flatten(1)
        query_pos = query_embed[None].expand(batch, -1, -1)
        memory = self.encoder(src, padding_mask=mask, pos=pos)
        tgt = torch.zeros_like(query_pos)  # official: content queries start at zero
        hs = self.decoder(tgt, memory, memory_padding_mask=mask, pos=pos, query_pos=query_pos)
        return hs, memory

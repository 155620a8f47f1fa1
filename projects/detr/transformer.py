"""The original DETR encoder-decoder transformer (Carion et al. 2020), batch-first.

Tensors are batch-first throughout: memory [B, S, C], queries [B, Q, C], key padding masks [B, S]
(True = padding). Submodule names follow the official layout so official checkpoints map 1:1.
"""
import torch
from torch import nn

from projects.layers import clone_modules, xavier_init_matrices
from projects.layers.transformer import (DecoderLayerBase, TransformerEncoder, TransformerEncoderLayer,
                                 with_pos)
from projects.layers.levels import flatten_level
from projects.layers.transformer_output import TransformerOutput


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
        self.reset_parameters()

    def reset_parameters(self):
        # official: xavier_uniform on every matrix of the transformer (fused q/k/v as one matrix)
        xavier_init_matrices(self)

    def forward(self, src, mask, query_embed, pos) -> TransformerOutput:
        """src: [B, C, H, W]; mask: [B, H, W]; query_embed: [Q, C]; pos: [B, C, H, W]
        -> TransformerOutput(hs [L, B, Q, C], memory [B, H*W, C])."""
        src, mask, pos = flatten_level(src, mask, pos)
        query_pos = query_embed[None].expand(src.shape[0], -1, -1)
        memory = self.encoder(src, padding_mask=mask, pos=pos)
        tgt = torch.zeros_like(query_pos)  # official: content queries start at zero
        hs = self.decoder(tgt, memory, memory_padding_mask=mask, pos=pos, query_pos=query_pos)
        return TransformerOutput(hs=hs, memory=memory)


def build_detr_transformer(cfg) -> Transformer:
    """DETR's transformer sized by ``cfg.MODEL.DETR``."""
    detr = cfg.MODEL.DETR
    return make_detr_transformer(
        d_model=detr.HIDDEN_DIM, nhead=detr.NHEADS, num_encoder_layers=detr.ENC_LAYERS,
        num_decoder_layers=detr.DEC_LAYERS, dim_feedforward=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT,
        normalize_before=detr.PRE_NORM,
    )


def make_detr_transformer(*, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                          dim_feedforward=2048, dropout=0.1, activation="relu", normalize_before=False) -> Transformer:
    """Keyword construction (official main.py defaults), used by ``build_detr_transformer`` and tests."""
    return Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout, activation,
                       normalize_before)

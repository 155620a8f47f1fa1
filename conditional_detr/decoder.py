"""Conditional DETR decoder (Meng et al. 2021): conditional cross-attention around fixed reference points.

Batch-first throughout: queries [B, Q, C], memory [B, S, C], key padding mask [B, S] (True = padding).
Submodule names follow the official layout, so official checkpoints map 1:1 (FFN under ``ffn``).
"""
import torch
from torch import nn

from projects.layers import MLP
from projects.layers.conditional_decoder_layer import ConditionalDecoderLayer, clone_conditional_layers
from projects.layers.sine_embedding import sine_embed_coordinates

__all__ = ["ConditionalDecoder", "ConditionalDecoderLayer"]  # the layer lives in projects.layers (shared)


class ConditionalDecoder(nn.Module):
    """A stack of conditional decoder layers with shared ``ref_point_head``, ``query_scale`` and ``norm``.

    Reference points s = sigmoid(ref_point_head(object query)) are computed once and used by every
    layer (no iterative refinement). Layer i receives the sine embedding p_s of s scaled element-wise by
    lambda_q = query_scale(output of layer i-1); lambda_q = 1 for layer 0 (paper eq. 3).
    """

    def __init__(self, layer: ConditionalDecoderLayer, num_layers, d_model):
        super().__init__()
        self.layers = clone_conditional_layers(layer, num_layers)
        self.norm = nn.LayerNorm(d_model)
        self.query_scale = MLP(d_model, d_model, d_model, 2)
        self.ref_point_head = MLP(d_model, d_model, 2, 2)
        self.d_model = d_model

    def forward(self, memory, memory_padding_mask, pos, query_pos):
        """memory: [B, S, C]; memory_padding_mask: [B, S]; pos: [B, S, C]; query_pos: [B, Q, C]
        -> (hs [L, B, Q, C] every layer after the shared norm, reference points [B, Q, 2] (x, y) in (0, 1))."""
        reference_points = self.ref_point_head(query_pos).sigmoid()
        # official: 128 sine features per coordinate for d_model 256 (generalised here to d_model / 2)
        point_embed = sine_embed_coordinates(reference_points, self.d_model // 2)
        tgt = torch.zeros_like(query_pos)  # official: content queries start at zero
        states = []
        for layer in self.layers:
            query_sine_embed = point_embed if layer.is_first else point_embed * self.query_scale(tgt)
            tgt = layer(tgt, memory, memory_padding_mask, pos, query_pos, query_sine_embed)
            states.append(self.norm(tgt))  # the next layer and query_scale see the un-normalised tgt
        return torch.stack(states), reference_points

"""Conditional DETR decoder (Meng et al. 2021): conditional cross-attention around fixed reference points.

Batch-first throughout: queries [B, Q, C], memory [B, S, C], key padding mask [B, S] (True = padding).
Submodule names follow the official layout, so official checkpoints map 1:1 (FFN under ``ffn``).
"""
import torch
from torch import nn

from projects.layers import MLP, clone_modules
from projects.layers.conditional_attention import PreProjectedAttention, conditional_cross_attention
from projects.layers.sine_embedding import sine_embed_coordinates
from projects.layers.transformer import DecoderLayerBase


class ConditionalDecoderLayer(DecoderLayerBase):
    """Self-attention, conditional cross-attention, FFN; post-norm (the official decoder has no pre-norm).

    The first decoder layer owns ``ca_qpos_proj``; the decoder deletes it (sets it to None) in every
    other layer, as the official code does, and a layer treats itself as first iff it has it.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu"):
        super().__init__(d_model, dim_feedforward, dropout, activation)
        for name in ("sa_qcontent_proj", "sa_qpos_proj", "sa_kcontent_proj", "sa_kpos_proj", "sa_v_proj",
                     "ca_qcontent_proj", "ca_qpos_proj", "ca_kcontent_proj", "ca_kpos_proj", "ca_v_proj",
                     "ca_qpos_sine_proj"):
            setattr(self, name, nn.Linear(d_model, d_model))
        self.self_attn = PreProjectedAttention(d_model, nhead, dropout)
        self.cross_attn = PreProjectedAttention(d_model, nhead, dropout)

    @property
    def is_first(self):
        return self.ca_qpos_proj is not None

    def self_attention(self, tgt, query_pos):
        """tgt, query_pos: [B, Q, C] -> [B, Q, C]. Content and position projected separately, then summed."""
        query = self.sa_qcontent_proj(tgt) + self.sa_qpos_proj(query_pos)
        key = self.sa_kcontent_proj(tgt) + self.sa_kpos_proj(query_pos)
        return self.self_attn(query, key, self.sa_v_proj(tgt))

    def cross_attention(self, tgt, memory, memory_padding_mask, pos, query_pos, query_sine_embed):
        """Conditional cross-attention (paper eq. 1-2): per head, query = [content ; conditional spatial
        query], key = [content ; key position]. tgt: [B, Q, C]; memory, pos: [B, S, C] -> [B, Q, C]."""
        # official: only layer 0 also adds the object-query position to the content query (and the
        # key position to the content key), DETR-style
        return conditional_cross_attention(
            self.cross_attn, self.ca_qcontent_proj(tgt), self.ca_qpos_sine_proj(query_sine_embed),
            self.ca_kcontent_proj(memory), self.ca_kpos_proj(pos), self.ca_v_proj(memory),
            key_padding_mask=memory_padding_mask,
            query_pos=self.ca_qpos_proj(query_pos) if self.is_first else None,
        )

    def forward(self, tgt, memory, memory_padding_mask, pos, query_pos, query_sine_embed):
        """tgt: [B, Q, C]; memory: [B, S, C]; memory_padding_mask: [B, S]; pos: [B, S, C];
        query_pos: [B, Q, C] (object queries); query_sine_embed: [B, Q, C] (p_s * lambda_q) -> [B, Q, C]."""
        tgt = self.norm1(tgt + self.dropout1(self.self_attention(tgt, query_pos)))
        attended = self.cross_attention(tgt, memory, memory_padding_mask, pos, query_pos, query_sine_embed)
        tgt = self.norm2(tgt + self.dropout2(attended))
        return self.norm3(tgt + self.dropout3(self.ffn(tgt)))


class ConditionalDecoder(nn.Module):
    """A stack of conditional decoder layers with shared ``ref_point_head``, ``query_scale`` and ``norm``.

    Reference points s = sigmoid(ref_point_head(object query)) are computed once and used by every
    layer (no iterative refinement). Layer i receives the sine embedding p_s of s scaled element-wise by
    lambda_q = query_scale(output of layer i-1); lambda_q = 1 for layer 0 (paper eq. 3).
    """

    def __init__(self, layer: ConditionalDecoderLayer, num_layers, d_model):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)
        for later_layer in self.layers[1:]:
            later_layer.ca_qpos_proj = None  # official: only the first layer has it
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

"""The conditional decoder layer (Conditional DETR, Meng et al. 2021; shared with DAB-DETR).

Batch-first: queries [B, Q, C], memory [B, S, C], key padding mask [B, S] (True = padding).
Submodule names follow the official layout, so official checkpoints map 1:1 (FFN under ``ffn``).
"""
from torch import nn

from projects.layers.conditional_attention import PreProjectedAttention, conditional_cross_attention
from projects.layers.misc import clone_modules
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

    def self_attention(self, tgt, query_pos, attn_mask=None):
        """tgt, query_pos: [B, Q, C]; attn_mask: optional [Q, Q] bool (True = blocked) -> [B, Q, C].
        Content and position projected separately, then summed."""
        query = self.sa_qcontent_proj(tgt) + self.sa_qpos_proj(query_pos)
        key = self.sa_kcontent_proj(tgt) + self.sa_kpos_proj(query_pos)
        return self.self_attn(query, key, self.sa_v_proj(tgt), attn_mask=attn_mask)

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

    def forward(self, tgt, memory, memory_padding_mask, pos, query_pos, query_sine_embed, self_attn_mask=None):
        """tgt: [B, Q, C]; memory: [B, S, C]; memory_padding_mask: [B, S]; pos: [B, S, C];
        query_pos: [B, Q, C] (object queries); query_sine_embed: [B, Q, C] (p_s * lambda_q);
        self_attn_mask: optional [Q, Q] bool, True = blocked (denoising groups) -> [B, Q, C]."""
        tgt = self.norm1(tgt + self.dropout1(self.self_attention(tgt, query_pos, self_attn_mask)))
        attended = self.cross_attention(tgt, memory, memory_padding_mask, pos, query_pos, query_sine_embed)
        tgt = self.norm2(tgt + self.dropout2(attended))
        return self.norm3(tgt + self.dropout3(self.ffn(tgt)))


def clone_conditional_layers(layer: ConditionalDecoderLayer, num_layers: int) -> nn.ModuleList:
    """``num_layers`` copies of ``layer``; official Conditional DETR / DAB-DETR: only the first layer adds
    the projected query position to the cross-attention's content query (``ca_qpos_proj`` is None after)."""
    layers = clone_modules(layer, num_layers)
    for later_layer in layers[1:]:
        later_layer.ca_qpos_proj = None
    return layers

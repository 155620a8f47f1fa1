"""DAB-Deformable-DETR's transformer (Deformable DETR's encoder + the anchor decoder) and its builders."""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from projects.layers.deformable.attention import build_attention, init_deformable_transformer_weights
from projects.layers.deformable.decoder_layer import DeformableDecoderLayer
from projects.layers.deformable.encoder import DeformableEncoder, DeformableEncoderLayer
from projects.layers.deformable.levels import flatten_levels
from projects.layers.transformer_output import TransformerOutput

from .deformable_decoder import DABDeformableDecoder


class DABDeformableTransformer(nn.Module):
    """Level embedding, deformable encoder over all level tokens, anchor decoder over the given queries."""

    def __init__(self, encoder: DeformableEncoder, decoder: DABDeformableDecoder, d_model: int, num_levels: int):
        super().__init__()
        self.d_model = d_model
        self.num_levels = num_levels
        self.level_embed = nn.Parameter(torch.empty(num_levels, d_model))
        self.encoder = encoder
        self.decoder = decoder
        self.reset_parameters()

    def reset_parameters(self):
        # official: xavier-uniform on every matrix, then each attention's own init, normal level embedding
        init_deformable_transformer_weights(self)
        nn.init.normal_(self.level_embed)

    def forward(self, srcs: Sequence[Tensor], masks: Sequence[Tensor], pos_embeds: Sequence[Tensor], tgt: Tensor,
                anchor_logits: Tensor, box_heads: Sequence[nn.Module],
                self_attn_mask: Optional[Tensor] = None) -> TransformerOutput:
        """srcs, pos_embeds: per level [B, C, H_l, W_l]; masks: per level [B, H_l, W_l]; tgt: [B, Q, C];
        anchor_logits: [B, Q, 4] unsigmoided anchors; box_heads: one per decoder layer; self_attn_mask:
        [Q, Q] or None -> TransformerOutput(hs [L, B, Q, C], memory [B, S, C], references: the L anchors
        [B, Q, 4] the layers used, levels)."""
        if len(srcs) != self.num_levels:
            raise ValueError(f"The transformer was built for {self.num_levels} levels, got {len(srcs)}")
        levels = flatten_levels(list(srcs), list(masks), list(pos_embeds), self.level_embed)
        memory = self.encoder(levels)
        hs, anchors = self.decoder(tgt, anchor_logits.sigmoid(), memory, levels, box_heads, self_attn_mask)
        return TransformerOutput(hs=hs, memory=memory, references=anchors, levels=levels)


def build_dab_deformable_transformer(cfg) -> DABDeformableTransformer:
    """The DAB-Deformable-DETR transformer sized by ``cfg.MODEL.DETR`` and ``cfg.MODEL.DAB_DETR``."""
    detr, options = cfg.MODEL.DETR, cfg.MODEL.DAB_DETR
    return make_dab_deformable_transformer(
        d_model=detr.HIDDEN_DIM, nhead=detr.NHEADS, num_encoder_layers=detr.ENC_LAYERS,
        num_decoder_layers=detr.DEC_LAYERS, dim_feedforward=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT,
        activation=options.ACTIVATION, num_levels=options.NUM_FEATURE_LEVELS, enc_n_points=options.ENC_N_POINTS,
        dec_n_points=options.DEC_N_POINTS, attention_impl=options.ATTENTION_IMPL,
    )


def make_dab_deformable_transformer(*, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                                    dim_feedforward=2048, dropout=0.0, activation="relu", num_levels=4,
                                    enc_n_points=4, dec_n_points=4,
                                    attention_impl="auto") -> DABDeformableTransformer:
    """Keyword construction (official main.py defaults: the deformable model hard-codes relu), used by
    ``build_dab_deformable_transformer`` and tests."""
    def attention(points):
        return build_attention(d_model, num_levels, nhead, points, attention_impl,
                               config_key="MODEL.DAB_DETR.ATTENTION_IMPL")

    encoder_layer = DeformableEncoderLayer(attention(enc_n_points), d_model, dim_feedforward, dropout, activation)
    decoder_layer = DeformableDecoderLayer(attention(dec_n_points), d_model, nhead, dim_feedforward, dropout,
                                           activation)
    return DABDeformableTransformer(DeformableEncoder(encoder_layer, num_encoder_layers),
                                    DABDeformableDecoder(decoder_layer, num_decoder_layers, d_model),
                                    d_model=d_model, num_levels=num_levels)

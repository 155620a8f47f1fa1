"""Conditional DETR transformer: the core DETR encoder + the conditional decoder, and its builders."""
from torch import nn

from projects.layers import xavier_init_matrices
from projects.layers.levels import flatten_level
from projects.layers.transformer import TransformerEncoder, TransformerEncoderLayer
from projects.layers.transformer_output import TransformerOutput

from .decoder import ConditionalDecoder, ConditionalDecoderLayer


class ConditionalTransformer(nn.Module):
    """Post-norm encoder over the flattened feature map, conditional decoder over learned object queries."""

    def __init__(self, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu"):
        super().__init__()
        if d_model % 2:
            raise ValueError(f"d_model must be even (x and y halves of the reference-point embedding), got {d_model}")
        encoder_layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation)
        self.encoder = TransformerEncoder(encoder_layer, num_encoder_layers)  # post-norm: no final norm
        decoder_layer = ConditionalDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation)
        self.decoder = ConditionalDecoder(decoder_layer, num_decoder_layers, d_model)
        self.d_model = d_model
        self.reset_parameters()

    def reset_parameters(self):
        # official: xavier_uniform on every matrix of the transformer, query_scale/ref_point_head included
        xavier_init_matrices(self)

    def forward(self, src, mask, query_embed, pos) -> TransformerOutput:
        """src: [B, C, H, W]; mask: [B, H, W] (True = padding); query_embed: [Q, C]; pos: [B, C, H, W]
        -> TransformerOutput(hs [L, B, Q, C], memory [B, H*W, C], references: the reference points
        [B, Q, 2] shared by every layer)."""
        src, mask, pos = flatten_level(src, mask, pos)
        memory = self.encoder(src, padding_mask=mask, pos=pos)
        query_pos = query_embed[None].expand(src.shape[0], -1, -1)
        hs, reference_points = self.decoder(memory, mask, pos, query_pos)
        return TransformerOutput(hs=hs, memory=memory, references=reference_points)


def build_conditional_detr_transformer(cfg) -> ConditionalTransformer:
    """The Conditional DETR transformer sized by ``cfg.MODEL.DETR``."""
    detr = cfg.MODEL.DETR
    return make_conditional_detr_transformer(
        d_model=detr.HIDDEN_DIM, nhead=detr.NHEADS, num_encoder_layers=detr.ENC_LAYERS,
        num_decoder_layers=detr.DEC_LAYERS, dim_feedforward=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT,
    )


def make_conditional_detr_transformer(*, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                                      dim_feedforward=2048, dropout=0.1, activation="relu") -> ConditionalTransformer:
    """Keyword construction (official defaults), used by ``build_conditional_detr_transformer`` and tests."""
    return ConditionalTransformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
                                  activation)

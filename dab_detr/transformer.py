"""DAB-DETR's single-scale transformer (encoder + anchor decoder) and its builders."""
from typing import Optional

from torch import Tensor, nn

from projects.layers import xavier_init_matrices
from projects.layers.conditional_decoder_layer import ConditionalDecoderLayer
from projects.layers.levels import flatten_level
from projects.layers.transformer import TransformerEncoderLayer
from projects.layers.transformer_output import TransformerOutput

from .decoder import DABDecoder
from .encoder import DABEncoder


class DABTransformer(nn.Module):
    """Post-norm encoder over the flattened feature map, anchor decoder over the given queries."""

    def __init__(self, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.0, activation="prelu"):
        super().__init__()
        if d_model % 2:
            raise ValueError(f"d_model must be even (x and y halves of the anchor embedding), got {d_model}")
        encoder_layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation)
        self.encoder = DABEncoder(encoder_layer, num_encoder_layers, d_model)
        decoder_layer = ConditionalDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation)
        self.decoder = DABDecoder(decoder_layer, num_decoder_layers, d_model)
        self.d_model = d_model
        self.reset_parameters()

    def reset_parameters(self):
        # official: xavier_uniform on every matrix of the transformer (the heads are the detector's)
        xavier_init_matrices(self)

    def forward(self, src: Tensor, mask: Tensor, pos: Tensor, tgt: Tensor, anchor_logits: Tensor,
                box_head: nn.Module, self_attn_mask: Optional[Tensor] = None) -> TransformerOutput:
        """src, pos: [B, C, H, W]; mask: [B, H, W] (True = padding); tgt: [B, Q, C] content queries;
        anchor_logits: [B, Q, 4] unsigmoided anchors; box_head: the anchor-update MLP; self_attn_mask:
        [Q, Q] (True = blocked) or None -> TransformerOutput(hs [L, B, Q, C], memory [B, H*W, C],
        references: the L anchors [B, Q, 4] the decoder layers used)."""
        src, mask, pos = flatten_level(src, mask, pos)
        memory = self.encoder(src, mask, pos)
        hs, anchors = self.decoder(tgt, anchor_logits.sigmoid(), memory, mask, pos, box_head, self_attn_mask)
        return TransformerOutput(hs=hs, memory=memory, references=anchors)


def build_dab_detr_transformer(cfg) -> DABTransformer:
    """The single-scale DAB-DETR transformer sized by ``cfg.MODEL.DETR`` (activation: MODEL.DAB_DETR)."""
    detr = cfg.MODEL.DETR
    return make_dab_detr_transformer(
        d_model=detr.HIDDEN_DIM, nhead=detr.NHEADS, num_encoder_layers=detr.ENC_LAYERS,
        num_decoder_layers=detr.DEC_LAYERS, dim_feedforward=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT,
        activation=cfg.MODEL.DAB_DETR.ACTIVATION,
    )


def make_dab_detr_transformer(*, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                              dim_feedforward=2048, dropout=0.0, activation="prelu") -> DABTransformer:
    """Keyword construction (official main.py defaults), used by ``build_dab_detr_transformer`` and tests."""
    return DABTransformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
                          activation)

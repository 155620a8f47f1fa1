"""Conditional DETR transformer: DETR's encoder (reused from projects.detr) + the conditional decoder."""
from torch import nn

from projects.detr.transformer import TransformerEncoder, TransformerEncoderLayer
from projects.layers import xavier_init_matrices

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
        self._reset_parameters()

    def _reset_parameters(self):
        # official: xavier_uniform on every matrix of the transformer, query_scale/ref_point_head included
        xavier_init_matrices(self)

    def forward(self, src, mask, query_embed, pos):
        """src: [B, C, H, W]; mask: [B, H, W] (True = padding); query_embed: [Q, C]; pos: [B, C, H, W]
        -> (hs [L, B, Q, C], reference points [B, Q, 2])."""
        batch = src.shape[0]
        src = src.flatten(2).transpose(1, 2)
        pos = pos.flatten(2).transpose(1, 2)
        mask = mask.flatten(1)
        memory = self.encoder(src, padding_mask=mask, pos=pos)
        query_pos = query_embed[None].expand(batch, -1, -1)
        return self.decoder(memory, mask, pos, query_pos)

"""SMCA encoder-decoder transformer (single-scale and multi-scale) and its builder."""
from typing import List, Sequence

import torch
from torch import nn

from projects.detr.transformer import TransformerEncoderLayer
from projects.layers import xavier_init_matrices

from .co_attention import GaussianCoAttention, ScaleSelectionAttention
from .decoder import DecoderMemory, SMCADecoder, SMCADecoderLayer
from .encoder import SMCAEncoder
from .spatial_prior import GaussianPrior, level_axes


class SMCATransformer(nn.Module):
    """Encoder over the projected levels, SMCA decoder over learned query positions.

    With several levels a learned level embedding is added to each level's positional encoding
    (it tells the multi-scale block and the decoder keys which scale a token comes from).
    """

    def __init__(self, encoder: SMCAEncoder, decoder: SMCADecoder, d_model: int, num_levels: int = 1):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.d_model = d_model
        self.num_levels = num_levels
        self.level_embed = nn.Parameter(torch.empty(num_levels, d_model)) if num_levels > 1 else None
        self._reset_parameters()

    def _reset_parameters(self):
        # official: xavier_uniform on every matrix of the transformer, then point3 = (0, 1)
        xavier_init_matrices(self)
        for layer in self.decoder.layers:
            layer.prior.reset_scale_head()
        if self.level_embed is not None:
            nn.init.normal_(self.level_embed)

    def forward(self, srcs: List[torch.Tensor], masks: List[torch.Tensor], pos: List[torch.Tensor],
                strides: Sequence[float], query_embed, image_wh):
        """Per level: srcs [B, C, H_l, W_l], masks [B, H_l, W_l], pos [B, C, H_l, W_l], strides;
        query_embed [Q, C]; image_wh [B, 2] unpadded (width, height).

        Returns {"hs": [L, B, Q, C], "center_logits": [B, Q, 2], "priors": per decoder layer,
        "memory": per level [B, S_l, C]}.
        """
        shapes = [src.shape[-2:] for src in srcs]
        flat_srcs = [src.flatten(2).transpose(1, 2) for src in srcs]
        flat_pos = [p.flatten(2).transpose(1, 2) for p in pos]
        flat_masks = [mask.flatten(1) for mask in masks]
        if self.level_embed is not None:
            flat_pos = [p + self.level_embed[level] for level, p in enumerate(flat_pos)]
        memory = self.encoder(flat_srcs, flat_masks, flat_pos)
        axes = [level_axes(h, w, stride, self.decoder.unit_stride, srcs[0].device, srcs[0].dtype)
                for (h, w), stride in zip(shapes, strides)]
        keys = [m + p for m, p in zip(memory, flat_pos)]
        decoder_memory = DecoderMemory(values=memory, keys=keys, masks=flat_masks, axes=axes)
        query_pos = query_embed[None].expand(srcs[0].shape[0], -1, -1)
        tgt = torch.zeros_like(query_pos)  # official: content queries start at zero
        hs, center_logits, priors = self.decoder(tgt, query_pos, decoder_memory, image_wh)
        return {"hs": hs, "center_logits": center_logits, "priors": priors, "memory": memory}


def build_smca_transformer(*, d_model: int = 256, nhead: int = 8, encoder_blocks: Sequence[str] = ("intra",) * 6,
                           num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                           activation: str = "relu", scale_mode: str = "independent", head_shared: bool = False,
                           smooth: float = 8.0, unit_stride: float = 32.0, num_levels: int = 1,
                           scale_selection: bool = True, shared_projections: bool = False) -> SMCATransformer:
    """An SMCATransformer; ``num_levels`` 1 gives the official single-scale model, more gives the
    paper's multi-scale model (scale-selection co-attention, level embedding)."""
    encoder_layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation)
    prior = GaussianPrior(d_model, nhead, scale_mode, head_shared, smooth)
    if num_levels == 1:
        cross_attn, selection = GaussianCoAttention(d_model, nhead, dropout), None
    else:
        cross_attn = ScaleSelectionAttention(d_model, nhead, num_levels, dropout, shared_projections)
        selection = nn.Linear(d_model, num_levels) if scale_selection else None
    decoder_layer = SMCADecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, prior, cross_attn,
                                     selection)
    decoder = SMCADecoder(decoder_layer, num_decoder_layers, d_model, unit_stride)
    return SMCATransformer(SMCAEncoder(encoder_layer, encoder_blocks), decoder, d_model, num_levels)

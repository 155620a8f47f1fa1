"""SMCA encoder-decoder transformer (single-scale and multi-scale) and its builder."""
from typing import List, Sequence

import torch
from torch import nn

from projects.layers import xavier_init_matrices
from projects.layers.transformer import TransformerEncoderLayer
from projects.layers.transformer_output import TransformerOutput

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
        self.reset_parameters()

    def reset_parameters(self):
        # official: xavier_uniform on every matrix of the transformer, then point3 = (0, 1)
        xavier_init_matrices(self)
        for layer in self.decoder.layers:
            layer.prior.reset_parameters()
        if self.level_embed is not None:
            nn.init.normal_(self.level_embed)

    def forward(self, srcs: List[torch.Tensor], masks: List[torch.Tensor], pos: List[torch.Tensor],
                strides: Sequence[float], query_embed, image_wh) -> TransformerOutput:
        """Per level: srcs [B, C, H_l, W_l], masks [B, H_l, W_l], pos [B, C, H_l, W_l], strides;
        query_embed [Q, C]; image_wh [B, 2] unpadded (width, height).

        Returns TransformerOutput with hs [L, B, Q, C], memory (per level [B, S_l, C]),
        center_logits [B, Q, 2] and priors (per decoder layer).
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
        return TransformerOutput(hs=hs, memory=memory, center_logits=center_logits, priors=priors)


def build_smca_transformer(cfg, unit_stride: float, multi_scale: bool = False) -> SMCATransformer:
    """The SMCA transformer from MODEL.DETR / MODEL.SMCA.

    ``unit_stride``: the prior's cell unit, the stride of the last backbone level (the backbone,
    not the config, fixes it). Single-scale (official): one level, every encoder block
    intra-scale. ``multi_scale``: the backbone levels plus MODEL.SMCA.EXTRA_LEVELS, encoder blocks
    MODEL.SMCA.ENCODER_BLOCKS.
    """
    detr, smca = cfg.MODEL.DETR, cfg.MODEL.SMCA
    encoder_blocks, num_levels = ["intra"] * detr.ENC_LAYERS, 1
    if multi_scale:
        if detr.ENC_LAYERS != len(smca.ENCODER_BLOCKS):
            raise ValueError(f"MODEL.DETR.ENC_LAYERS ({detr.ENC_LAYERS}) must equal the number of "
                             f"MODEL.SMCA.ENCODER_BLOCKS ({list(smca.ENCODER_BLOCKS)})")
        encoder_blocks, num_levels = smca.ENCODER_BLOCKS, len(detr.IN_FEATURES) + smca.EXTRA_LEVELS
    return make_smca_transformer(
        d_model=detr.HIDDEN_DIM, nhead=detr.NHEADS, encoder_blocks=encoder_blocks,
        num_decoder_layers=detr.DEC_LAYERS, dim_feedforward=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT,
        scale_mode=smca.SCALE_MODE, head_shared=smca.HEAD_SHARED, smooth=smca.SMOOTH, unit_stride=unit_stride,
        num_levels=num_levels, scale_selection=smca.SCALE_SELECTION,
        shared_projections=smca.SHARED_SCALE_PROJECTIONS,
    )


def make_smca_transformer(*, d_model: int = 256, nhead: int = 8, encoder_blocks: Sequence[str] = ("intra",) * 6,
                           num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                           activation: str = "relu", scale_mode: str = "independent", head_shared: bool = False,
                           smooth: float = 8.0, unit_stride: float = 32.0, num_levels: int = 1,
                           scale_selection: bool = True, shared_projections: bool = False) -> SMCATransformer:
    """Keyword construction, used by ``build_smca_transformer`` and tests; ``num_levels`` 1 gives the
    official single-scale model, more gives the paper's multi-scale model (scale-selection
    co-attention, level embedding)."""
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

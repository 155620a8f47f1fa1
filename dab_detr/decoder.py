"""DAB-DETR's single-scale decoder (Liu et al., ICLR 2022): conditional decoder layers whose queries are
4-d anchor boxes, refined after every layer, with width/height-modulated cross-attention.

Batch-first: queries [B, Q, C], memory [B, S, C], key padding mask [B, S] (True = padding).
"""
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from projects.layers import MLP
from projects.layers.conditional_decoder_layer import ConditionalDecoderLayer, clone_conditional_layers

from .anchors import anchor_sine_embed, refine_anchors


class DABDecoder(nn.Module):
    """Conditional decoder layers with the shared heads ``ref_point_head`` (anchor sine embedding ->
    query position), ``query_scale`` (lambda_q), ``ref_anchor_head`` (the modulation's reference
    width/height) and ``norm``. Submodule names are the official ones."""

    def __init__(self, layer: ConditionalDecoderLayer, num_layers: int, d_model: int):
        super().__init__()
        self.layers = clone_conditional_layers(layer, num_layers)
        self.norm = nn.LayerNorm(d_model)
        self.query_scale = MLP(d_model, d_model, d_model, 2)
        self.ref_point_head = MLP(2 * d_model, d_model, d_model, 2)
        self.ref_anchor_head = MLP(d_model, d_model, 2, 2)
        self.d_model = d_model

    def modulated_sine_embed(self, anchor_embed: Tensor, tgt: Tensor, anchors: Tensor, is_first: bool) -> Tensor:
        """The positional query of the cross-attention (paper eq. 6 and Sec. 4.3).

        anchor_embed: [B, Q, 2C] sine embedding of the anchors (y, x, w, h blocks of C/2 each);
        tgt: [B, Q, C] the layer's input content; anchors: [B, Q, 4] -> [B, Q, C]: the (y, x) blocks times
        lambda_q = query_scale(tgt) (1 in layer 0), then the x block times w_ref / w and the y block times
        h_ref / h, with (w_ref, h_ref) = sigmoid(ref_anchor_head(tgt)).
        """
        embed = anchor_embed[..., :self.d_model]
        if not is_first:
            embed = embed * self.query_scale(tgt)
        ref_wh = self.ref_anchor_head(tgt).sigmoid()
        y_embed, x_embed = embed.chunk(2, dim=-1)
        # official order of operations: (w_ref / w) then times the embedding
        x_embed = x_embed * (ref_wh[..., 0] / anchors[..., 2])[..., None]
        y_embed = y_embed * (ref_wh[..., 1] / anchors[..., 3])[..., None]
        return torch.cat((y_embed, x_embed), dim=-1)

    def forward(self, tgt: Tensor, anchors: Tensor, memory: Tensor, memory_padding_mask: Tensor, pos: Tensor,
                box_head: nn.Module, self_attn_mask: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        """
        Args:
            tgt: [B, Q, C] initial content queries (zeros for DAB-DETR; denoising queries first).
            anchors: [B, Q, 4] initial anchors (cx, cy, w, h) in (0, 1).
            memory, pos: [B, S, C]; memory_padding_mask: [B, S].
            box_head: the detector's shared box MLP; after each layer the anchors become
                sigmoid(box_head(raw output) + logit(anchor)), detached (official iter_update).
            self_attn_mask: optional [Q, Q] bool, True = blocked (denoising groups).

        Returns:
            hs [L, B, Q, C] (every layer's output after the shared norm) and the L anchors [B, Q, 4]
            the layers used (each layer's boxes are predicted relative to its own anchors).
        """
        states, used = [], []
        for layer in self.layers:
            used.append(anchors)
            anchor_embed = anchor_sine_embed(anchors, self.d_model // 2)
            query_pos = self.ref_point_head(anchor_embed)
            query_sine_embed = self.modulated_sine_embed(anchor_embed, tgt, anchors, layer.is_first)
            tgt = layer(tgt, memory, memory_padding_mask, pos, query_pos, query_sine_embed, self_attn_mask)
            anchors = refine_anchors(box_head, tgt, anchors).detach()  # official: from the raw output
            states.append(self.norm(tgt))
        return torch.stack(states), used

"""DAB-Deformable-DETR's decoder: deformable decoder layers whose positional queries come from 4-d anchors.

Batch-first: queries [B, Q, C], memory [B, S, C].
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from projects.layers import MLP, clone_modules
from projects.layers.deformable.decoder_layer import DeformableDecoderLayer
from projects.layers.deformable.levels import FlatLevels, reference_points_per_level

from .anchors import anchor_sine_embed, refine_anchors


class DABDeformableDecoder(nn.Module):
    """Deformable decoder layers (no final norm) with the shared ``ref_point_head`` (anchor sine embedding
    -> query position) and ``query_scale``; the anchors are refined after every layer by that layer's
    own box head. No width/height modulation: the 4-d reference scales the sampling offsets instead."""

    def __init__(self, layer: DeformableDecoderLayer, num_layers: int, d_model: int):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)
        self.query_scale = MLP(d_model, d_model, d_model, 2)
        self.ref_point_head = MLP(2 * d_model, d_model, d_model, 2)
        self.d_model = d_model

    def query_pos(self, reference_input: Tensor, tgt: Tensor, is_first: bool) -> Tensor:
        """reference_input: [B, Q, L, 4] the anchors on every level; tgt: [B, Q, C] -> [B, Q, C]:
        ref_point_head(sine embedding of the level-0 anchor) times query_scale(tgt) (1 in layer 0).

        Official: the embedding is of ``reference_points_input[:, :, 0]``, the anchor already scaled by
        level 0's valid ratios, not of the anchor itself."""
        query_pos = self.ref_point_head(anchor_sine_embed(reference_input[:, :, 0], self.d_model // 2))
        return query_pos if is_first else self.query_scale(tgt) * query_pos

    def forward(self, tgt: Tensor, anchors: Tensor, memory: Tensor, levels: FlatLevels,
                box_heads: Sequence[nn.Module], self_attn_mask: Optional[Tensor] = None
                ) -> Tuple[Tensor, List[Tensor]]:
        """
        Args:
            tgt: [B, Q, C] content queries; anchors: [B, Q, 4] initial anchors in (0, 1).
            memory: [B, S, C] encoder output; levels: the flattened encoder input.
            box_heads: one box MLP per layer; after layer i the anchors become
                sigmoid(box_heads[i](output) + logit(anchor)), detached (official: always refined).
            self_attn_mask: optional [Q, Q] bool, True = blocked (denoising groups).

        Returns:
            hs [L, B, Q, C] (the raw layer outputs) and the L anchors [B, Q, 4] the layers used.
        """
        outputs, used = [], []
        for index, layer in enumerate(self.layers):
            used.append(anchors)
            reference_input = reference_points_per_level(anchors, levels.valid_ratios)
            query_pos = self.query_pos(reference_input, tgt, index == 0)
            tgt = layer(tgt, query_pos, reference_input, memory, levels, self_attn_mask)
            outputs.append(tgt)
            anchors = refine_anchors(box_heads[index], tgt, anchors).detach()
        return torch.stack(outputs), used

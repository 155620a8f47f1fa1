"""DINO's decoder: 4-d anchor boxes as references, query positions from their sine embedding, and
look-forward-twice box refinement (DINO paper Sec. 3.5)."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from projects.layers import MLP, clone_modules
from projects.layers.boxes import boxes_from_reference
from projects.layers.deformable.decoder_layer import DeformableDecoderLayer
from projects.layers.deformable.levels import FlatLevels, reference_points_per_level
from projects.layers.sine_embedding import sine_embed_coordinates

# official DINO: inverse_sigmoid clamps at 1e-3 everywhere (Deformable DETR: 1e-5)
INVERSE_SIGMOID_EPS = 1e-3
ANCHOR_TEMPERATURE = 10000.0


class DINODecoder(nn.Module):
    """A stack of deformable decoder layers, a final LayerNorm and the anchor-to-position MLP.

    Submodule names are the official ones (``layers``, ``norm``, ``ref_point_head``).
    """

    def __init__(self, layer: DeformableDecoderLayer, num_layers: int, d_model: int):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)
        self.norm = nn.LayerNorm(d_model)
        self.num_pos_feats = d_model // 2  # official: 128 per coordinate at d_model 256
        self.ref_point_head = MLP(2 * d_model, d_model, d_model, 2)

    def query_pos(self, reference_input: Tensor) -> Tensor:
        """reference_input [B, Q, L, 4] -> positional queries [B, Q, C]: the sine embedding (y, x, w, h
        order, temperature 10000) of the level-0 reference through ``ref_point_head`` (official)."""
        sine = sine_embed_coordinates(reference_input[:, :, 0], self.num_pos_feats, ANCHOR_TEMPERATURE, y_first=True)
        return self.ref_point_head(sine)

    def forward(self, tgt: Tensor, reference: Tensor, memory: Tensor, levels: FlatLevels,
                box_heads: Sequence[nn.Module], self_attn_mask: Optional[Tensor] = None
                ) -> Tuple[Tensor, List[Tensor]]:
        """
        Args:
            tgt: [B, Q, C] content queries (denoising queries first, if any).
            reference: [B, Q, 4] initial anchors (sigmoid space, relative to the valid image), detached.
            memory: [B, S, C]; levels: the flattened encoder input.
            box_heads: one box MLP per layer (DINO shares one module).
            self_attn_mask: [Q, Q] bool, True = blocked (denoising groups), or None.

        Returns:
            hs [L, B, Q, C]: every layer's output after the final LayerNorm (what the heads read), and
            the L + 1 references (sigmoid space): the initial one, then each layer's *undetached*
            update sigmoid(box_head(out_i) + inverse_sigmoid(ref_i)), with out_i the layer output
            *before* the LayerNorm. Layer i + 1 receives the update detached, but its box is predicted
            relative to the undetached one, so its loss also trains layer i ("look forward twice").
        """
        outputs, references = [], [reference]
        for index, layer in enumerate(self.layers):
            reference_input = reference_points_per_level(reference, levels.valid_ratios)
            tgt = layer(tgt, self.query_pos(reference_input), reference_input, memory, levels, self_attn_mask)
            updated = boxes_from_reference(box_heads[index](tgt), reference, INVERSE_SIGMOID_EPS)
            references.append(updated)
            reference = updated.detach()
            outputs.append(self.norm(tgt))
        return torch.stack(outputs), references

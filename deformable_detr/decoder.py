"""Deformable transformer decoder with optional iterative bounding-box refinement."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from projects.layers import clone_modules
from projects.layers.boxes import boxes_from_reference
from projects.layers.deformable.decoder_layer import DeformableDecoderLayer
from projects.layers.deformable.levels import FlatLevels, reference_points_per_level

__all__ = ["DeformableDecoder", "DeformableDecoderLayer"]  # the layer lives in projects.layers.deformable


class DeformableDecoder(nn.Module):
    """A stack of decoder layers returning every layer's output and the reference it used (no final norm)."""

    def __init__(self, layer: DeformableDecoderLayer, num_layers: int):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)

    def forward(self, tgt: Tensor, query_pos: Tensor, reference: Tensor, memory: Tensor, levels: FlatLevels,
                box_heads: Optional[Sequence[nn.Module]] = None) -> Tuple[Tensor, List[Tensor]]:
        """
        Args:
            tgt, query_pos: [B, Q, C] content and positional queries.
            reference: [B, Q, 2 | 4] initial reference (sigmoid space, relative to the valid image).
            memory: [B, S, C] encoder output; levels: the flattened encoder input (shapes, mask, ratios).
            box_heads: with iterative refinement, one box MLP per layer: after layer i the reference
                becomes box_heads[i](output) applied to it, *detached* (no gradient through the
                previous box, paper Sec. 4.2 / Appendix A.4). None keeps the reference fixed.

        Returns:
            hs [L, B, Q, C] (every layer's output) and the L references [B, Q, 2 | 4] the layers
            received (each layer's box is predicted relative to its own). With refinement and a 2-d
            initial reference, layer 0's update turns it into a box, so later references are 4-d.
        """
        outputs, references = [], []
        for index, layer in enumerate(self.layers):
            references.append(reference)
            reference_input = reference_points_per_level(reference, levels.valid_ratios)
            tgt = layer(tgt, query_pos, reference_input, memory, levels)
            outputs.append(tgt)
            if box_heads is not None:
                reference = boxes_from_reference(box_heads[index](tgt), reference).detach()
        return torch.stack(outputs), references

"""SMCA's encoder: DETR encoder layers run within each scale ("intra") or across all scales ("multi").

Paper, multi-scale SMCA: 2 intra-scale blocks, 1 multi-scale block, 2 intra-scale blocks. An
intra-scale block applies *one* set of weights to every scale separately (self-attention confined
to the scale's own tokens); a multi-scale block runs self-attention over the concatenated tokens of
all scales. With a single level, a stack of intra blocks is exactly DETR's encoder.
"""
from typing import List, Sequence

import torch
from torch import nn

from projects.layers import clone_modules
from projects.layers.transformer import TransformerEncoderLayer

BLOCK_TYPES = ("intra", "multi")


class SMCAEncoder(nn.Module):
    """A stack of independent encoder layers, each applied intra-scale or multi-scale."""

    def __init__(self, layer: TransformerEncoderLayer, block_types: Sequence[str]):
        super().__init__()
        unknown = [kind for kind in block_types if kind not in BLOCK_TYPES]
        if unknown or not block_types:
            raise ValueError(f"encoder blocks must be a non-empty list of {BLOCK_TYPES}, got {list(block_types)}")
        self.layers = clone_modules(layer, len(block_types))
        self.block_types = list(block_types)

    def forward(self, srcs: List[torch.Tensor], masks: List[torch.Tensor], pos: List[torch.Tensor]):
        """Per level: srcs [B, S_l, C], masks [B, S_l] (True = padding), pos [B, S_l, C] -> memories [B, S_l, C]."""
        sizes = [src.shape[1] for src in srcs]
        joint_mask, joint_pos = torch.cat(masks, 1), torch.cat(pos, 1)
        for layer, kind in zip(self.layers, self.block_types):
            if kind == "intra":
                srcs = [layer(src, padding_mask=mask, pos=p) for src, mask, p in zip(srcs, masks, pos)]
            else:
                joint = layer(torch.cat(srcs, 1), padding_mask=joint_mask, pos=joint_pos)
                srcs = list(joint.split(sizes, dim=1))
        return srcs

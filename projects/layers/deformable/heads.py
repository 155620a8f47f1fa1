"""Class and box heads of the deformable methods (Deformable DETR, DAB-Deformable-DETR): shared across decoder
layers, or one per layer (iterative refinement)."""
from typing import Tuple

import torch
from torch import nn

from projects.layers.heads import class_and_box_heads, repeat_head


def build_heads(hidden_dim: int, num_classes: int, num_heads: int, shared: bool,
                two_stage: bool = False) -> Tuple[nn.ModuleList, nn.ModuleList]:
    """``num_heads`` class heads (Linear hidden -> num_classes) and box heads (3-layer MLP -> 4).

    ``shared``: every entry is the same module (official without refinement; checkpoints still
    store one copy per layer). Otherwise independent copies (refinement; the two-stage proposal
    head is the extra last entry). Official init: class bias = -log((1 - p) / p); last box layer
    zero with bias[2:] = -2 (w, h start small), on head 0 only when the heads are copies, and 0 on
    every head in two-stage (its proposals already carry the size).
    """
    class_head, box_head = class_and_box_heads(hidden_dim, num_classes, focal_prior=0.01, zero_box_offsets=True)
    class_heads = repeat_head(class_head, num_heads, shared)
    box_heads = repeat_head(box_head, num_heads, shared)
    if not two_stage:
        with torch.no_grad():
            box_heads[0].layers[-1].bias[2:] = -2.0
    return class_heads, box_heads

"""Class and box heads of Deformable DETR: shared across decoder layers, or one per layer (refinement)."""
from typing import List, Tuple

import torch
from torch import Tensor, nn

from projects.layers import MLP, clone_modules, init_focal_class_bias

from .boxes import refine_reference

def build_heads(hidden_dim: int, num_classes: int, num_heads: int, shared: bool,
                two_stage: bool = False) -> Tuple[nn.ModuleList, nn.ModuleList]:
    """``num_heads`` class heads (Linear hidden -> num_classes) and box heads (3-layer MLP -> 4).

    ``shared``: every entry is the same module (official without refinement; checkpoints still
    store one copy per layer). Otherwise independent copies (refinement; the two-stage proposal
    head is the extra last entry). Official init: class bias = -log((1 - p) / p); last box layer
    zero with bias[2:] = -2 (w, h start small), on head 0 only when the heads are copies, and 0 on
    every head in two-stage (its proposals already carry the size).
    """
    class_head = nn.Linear(hidden_dim, num_classes)
    init_focal_class_bias(class_head)
    box_head = MLP(hidden_dim, hidden_dim, 4, 3)
    nn.init.zeros_(box_head.layers[-1].weight)
    nn.init.zeros_(box_head.layers[-1].bias)
    if shared:
        class_heads = nn.ModuleList([class_head] * num_heads)
        box_heads = nn.ModuleList([box_head] * num_heads)
    else:
        class_heads = clone_modules(class_head, num_heads)
        box_heads = clone_modules(box_head, num_heads)
    if not two_stage:
        with torch.no_grad():
            box_heads[0].layers[-1].bias[2:] = -2.0
    return class_heads, box_heads


def decoder_predictions(class_heads: nn.ModuleList, box_heads: nn.ModuleList, hs: Tensor,
                        references: List[Tensor]) -> Tuple[Tensor, Tensor]:
    """Per-layer logits [L, B, Q, K] and boxes [L, B, Q, 4] (normalised cxcywh).

    hs: [L, B, Q, C]; references: L x [B, Q, 2 | 4]. Layer i's box is predicted relative to the
    reference that layer i received (Appendix A.3): sigmoid(box_head_i(hs_i) + inverse_sigmoid(ref_i)).
    """
    logits, boxes = [], []
    for layer, reference in enumerate(references):
        logits.append(class_heads[layer](hs[layer]))
        boxes.append(refine_reference(box_heads[layer](hs[layer]), reference))
    return torch.stack(logits), torch.stack(boxes)

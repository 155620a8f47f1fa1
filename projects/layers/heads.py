"""Prediction heads of the DETR family: a class Linear and a 3-layer box MLP per decoder output."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from projects.layers.boxes import boxes_from_reference
from projects.layers.init import init_focal_class_bias, zero_last_layer
from projects.layers.misc import MLP, clone_modules


def class_and_box_heads(hidden_dim: int, num_logits: int, focal_prior: Optional[float] = None,
                        zero_box_offsets: bool = False) -> Tuple[nn.Linear, MLP]:
    """Linear(hidden_dim -> num_logits) and MLP(hidden_dim, hidden_dim, 4, 3), created in that order.

    focal_prior: p of the focal-loss bias init (every class starts at probability p); None keeps
    PyTorch's default. zero_box_offsets: zero last box layer, so boxes start at their reference.
    """
    class_head = nn.Linear(hidden_dim, num_logits)
    box_head = MLP(hidden_dim, hidden_dim, 4, 3)
    if focal_prior is not None:
        init_focal_class_bias(class_head, focal_prior)
    if zero_box_offsets:
        zero_last_layer(box_head)
    return class_head, box_head


def repeat_head(head: nn.Module, count: int, shared: bool) -> nn.ModuleList:
    """``count`` entries: the same module (``shared``; a checkpoint still stores one copy per entry)
    or independent deep copies (e.g. one head per decoder layer for iterative refinement)."""
    return nn.ModuleList([head] * count) if shared else clone_modules(head, count)


def per_layer_predictions(class_heads: Sequence[nn.Module], box_heads: Sequence[nn.Module], hs: Tensor,
                          references: List[Tensor], eps: float = 1e-5) -> Tuple[Tensor, Tensor]:
    """Per-layer logits [L, B, Q, K] and boxes [L, B, Q, 4] (normalised cxcywh).

    hs: [L, B, Q, C]; references: L x [B, Q, 2 | 4]. Layer i's box is predicted relative to the
    reference that layer i received: sigmoid(box_head_i(hs_i) + inverse_sigmoid(ref_i, eps)).
    """
    logits, boxes = [], []
    for layer, reference in enumerate(references):
        logits.append(class_heads[layer](hs[layer]))
        boxes.append(boxes_from_reference(box_heads[layer](hs[layer]), reference, eps))
    return torch.stack(logits), torch.stack(boxes)

"""Two-stage Deformable DETR: every encoder token proposes a box; the best ones become queries."""
from typing import Tuple

import torch
from torch import Tensor

# moved to the core (shared with DINO); re-exported here
from projects.layers.deformable.proposals import (  # noqa: F401
    PROPOSAL_MIN_SIZE, PROPOSAL_VALID_RANGE, encoder_proposals,
)
from projects.layers.sine_embedding import sine_embed_coordinates


def proposal_pos_embed(coords_unact: Tensor, num_pos_feats: int, temperature: float = 10000.0) -> Tensor:
    """Sine embedding of proposal boxes: [B, Q, 4] logits -> [B, Q, 4 * num_pos_feats].

    Official: sigmoid(coords) * 2pi, per coordinate ``num_pos_feats`` interleaved sin/cos features
    (128 hard-coded there, i.e. d_model / 2 at d_model 256), concatenated in x, y, w, h order
    (unlike Conditional DETR's y-first order).
    """
    return sine_embed_coordinates(coords_unact.sigmoid(), num_pos_feats, temperature, y_first=False)


def select_proposals(class_logits: Tensor, coords_unact: Tensor, num_queries: int) -> Tuple[Tensor, Tensor]:
    """Top ``num_queries`` tokens by the logit of class 0 (official), in ``torch.topk`` order.

    class_logits: [B, S, K]; coords_unact: [B, S, 4] -> (indices [B, Q], coords [B, Q, 4] detached).
    """
    indices = torch.topk(class_logits[..., 0], num_queries, dim=1)[1]
    coords = torch.gather(coords_unact, 1, indices[..., None].expand(-1, -1, 4)).detach()
    return indices, coords

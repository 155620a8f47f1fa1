"""The one return type of every DETR-family transformer."""
from typing import Any, List, NamedTuple, Optional, Union

from torch import Tensor


class TransformerOutput(NamedTuple):
    """What a method's transformer hands to its heads; fields a method does not produce stay None.

    hs: [L, B, Q, C] every decoder layer's output, as the heads read it.
    memory: encoder output, [B, S, C] (DETR, Conditional DETR, Deformable DETR) or one
        [B, S_l, C] per level (SMCA).
    references: the reference each decoder layer's boxes are predicted relative to (sigmoid space):
        L tensors [B, Q, 2 | 4], one per layer (Deformable DETR), or one [B, Q, 2] shared by every
        layer (Conditional DETR).
    levels: the flattened multi-level encoder input (Deformable DETR's ``FlatLevels``).
    enc_outputs: two-stage encoder proposals {"pred_logits": [B, S, K], "pred_boxes": [B, S, 4]}.
    proposal_index: two-stage: [B, Q] encoder tokens selected as queries.
    center_logits: SMCA: [B, Q, 2] (x, y) query-centre logits shared by every layer.
    priors: SMCA: per decoder layer, the spatial prior it used (centres, scales, log G, ...).
    """

    hs: Tensor
    memory: Union[Tensor, List[Tensor], None] = None
    references: Union[List[Tensor], Tensor, None] = None
    levels: Optional[Any] = None
    enc_outputs: Optional[dict] = None
    proposal_index: Optional[Tensor] = None
    center_logits: Optional[Tensor] = None
    priors: Optional[List[dict]] = None

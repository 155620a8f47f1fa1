"""The 4-d anchor boxes of DAB-DETR (Liu et al., ICLR 2022): their sine embedding and their update."""
from torch import Tensor, nn

from projects.layers.boxes import boxes_from_reference
from projects.layers.sine_embedding import sine_embed_coordinates

# official DAB-DETR / DN-DETR: util.misc.inverse_sigmoid with eps 1e-3 (Deformable DETR's is 1e-5)
ANCHOR_EPS = 1e-3


def anchor_sine_embed(anchors: Tensor, num_pos_feats: int) -> Tensor:
    """anchors [..., 4] (cx, cy, w, h) -> [..., 4F]: F sine features per coordinate in the official order
    y, x, w, h (temperature 10000, scale 2 pi; official F = 128, i.e. d_model / 2 at 256)."""
    return sine_embed_coordinates(anchors, num_pos_feats, 10000, y_first=True)


def refine_anchors(box_head: nn.Module, output: Tensor, anchors: Tensor) -> Tensor:
    """Paper eq. 7: sigmoid(box_head(output) + logit(anchors)) on all four coordinates: the next layer's
    anchors and this layer's boxes. output: [B, Q, C]; anchors: [B, Q, 4] -> [B, Q, 4] (with gradient)."""
    return boxes_from_reference(box_head(output), anchors, eps=ANCHOR_EPS)

"""DAB-DETR's single-scale encoder: DETR encoder layers whose positions are rescaled by the content."""
from torch import Tensor, nn

from projects.layers import MLP, clone_modules
from projects.layers.transformer import TransformerEncoderLayer


class DABEncoder(nn.Module):
    """Post-norm encoder layers (no final norm). Before each layer the image position is multiplied
    element-wise by ``query_scale(current src)`` (one MLP shared by all layers, official DAB-DETR), so
    that layer attends with q = k = src + pos * query_scale(src), v = src."""

    def __init__(self, layer: TransformerEncoderLayer, num_layers: int, d_model: int):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)
        self.query_scale = MLP(d_model, d_model, d_model, 2)

    def forward(self, src: Tensor, padding_mask: Tensor, pos: Tensor) -> Tensor:
        """src, pos: [B, S, C]; padding_mask: [B, S] (True = padding) -> memory [B, S, C]."""
        for layer in self.layers:
            src = layer(src, padding_mask=padding_mask, pos=pos * self.query_scale(src))
        return src

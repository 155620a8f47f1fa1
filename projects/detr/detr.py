"""DETR (Carion et al. 2020) as a Detectron2 meta-architecture: the baseline of the family."""
from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from ..layers.heads import class_and_box_heads
from ..meta_arch import DETRBase, pack_outputs
from ..position_encoding import build_position_encoding
from .transformer import Transformer, build_detr_transformer


@META_ARCH_REGISTRY.register()
class DETR(DETRBase):
    """Single-level DETR: 1x1 input projection, transformer, shared class/box heads on every layer.

    ``class_embed`` has ``num_classes + 1`` outputs (last = no-object); boxes are sigmoid-normalised
    cxcywh relative to each image's unpadded size.
    """

    method_name = "DETR (it predicts a no-object class)"
    class_loss = "softmax"

    @configurable
    def __init__(self, *, transformer: Transformer, position_embedding: nn.Module, num_classes: int,
                 num_queries: int, aux_loss: bool = True, **base_kwargs):
        super().__init__(**base_kwargs)
        in_channels = self.backbone.single_level_channels("DETR")
        hidden_dim = transformer.d_model
        self.transformer = transformer
        self.position_embedding = position_embedding
        self.input_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=1)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.class_embed, self.bbox_embed = class_and_box_heads(hidden_dim, num_classes + 1)
        self.aux_loss = aux_loss

    @classmethod
    def from_config(cls, cfg):
        detr = cfg.MODEL.DETR
        return {
            **super().from_config(cfg),
            "transformer": build_detr_transformer(cfg),
            "position_embedding": build_position_encoding(detr.POSITION_EMBEDDING, detr.HIDDEN_DIM),
            "num_classes": detr.NUM_CLASSES,
            "num_queries": detr.NUM_OBJECT_QUERIES,
            "aux_loss": detr.DEEP_SUPERVISION,
        }

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        """levels: [(feature [B, C, H, W], mask [B, H, W])] -> outputs dict (see DETRBase)."""
        feature, mask = levels[-1]
        pos = self.position_embedding(mask, dtype=feature.dtype)
        hs = self.transformer(self.input_proj(feature), mask, self.query_embed.weight, pos).hs
        return pack_outputs(self.class_embed(hs), self.bbox_embed(hs).sigmoid(), self.aux_loss)

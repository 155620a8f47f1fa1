"""Base of the single-level detectors (DETR, Conditional DETR): one backbone level through a 1x1
projection, a position encoding of its mask, learned object queries and a transformer called as
``transformer(src, mask, query_embed, pos)``."""
from torch import nn

from detectron2.config import configurable

from projects.layers.input_proj import level_projection
from projects.layers.transformer_output import TransformerOutput
from projects.modeling.meta_arch import DETRBase
from projects.layers.position_encoding import build_position_encoding


class SingleLevelDETRBase(DETRBase):
    """Owns ``transformer``, ``position_embedding``, ``input_proj`` and ``query_embed`` [Q, C];
    a subclass adds its heads and ``predict`` (usually from ``run_transformer``)."""

    @configurable
    def __init__(self, *, transformer: nn.Module, position_embedding: nn.Module, num_queries: int,
                 aux_loss: bool = True, **base_kwargs):
        """transformer: has ``d_model``; aux_loss: supervise every decoder layer; base_kwargs: DETRBase's."""
        super().__init__(**base_kwargs)
        in_channels = self.backbone.single_level_channels(self.method_name)
        hidden_dim = transformer.d_model
        self.transformer = transformer
        self.position_embedding = position_embedding
        self.input_proj = level_projection(in_channels, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.aux_loss = aux_loss

    @classmethod
    def from_config(cls, cfg):
        detr = cfg.MODEL.DETR
        return {
            **super().from_config(cfg),
            "position_embedding": build_position_encoding(detr.POSITION_EMBEDDING, detr.HIDDEN_DIM),
            "num_queries": detr.NUM_OBJECT_QUERIES,
            "aux_loss": detr.DEEP_SUPERVISION,
        }

    def run_transformer(self, levels) -> TransformerOutput:
        """levels: [(feature [B, C, H, W], mask [B, H, W])] (the last one is used) -> the transformer's output."""
        feature, mask = levels[-1]
        pos = self.position_embedding(mask, dtype=feature.dtype)
        return self.transformer(self.input_proj(feature), mask, self.query_embed.weight, pos)

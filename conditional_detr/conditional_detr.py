"""Conditional DETR (Meng et al., ICCV 2021) as a Detectron2 meta-architecture."""
from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.layers.boxes import boxes_from_reference
from projects.layers.heads import class_and_box_heads
from projects.meta_arch import DETRBase, pack_outputs
from projects.position_encoding import build_position_encoding

from .transformer import ConditionalTransformer, build_conditional_detr_transformer


@META_ARCH_REGISTRY.register()
class ConditionalDETR(DETRBase):
    """Single-level detector: 1x1 input projection, DETR encoder, conditional decoder, shared heads.

    ``class_embed`` has ``num_classes`` sigmoid logits (no no-object class; trained with focal loss);
    boxes are sigmoid-normalised cxcywh relative to each image's unpadded size, predicted relative to
    each query's reference point (paper Sec. 3.3: the centre gets the reference's logit, w and h no prior).
    """

    method_name = "Conditional DETR"
    class_loss = "focal"
    supports_pre_norm = False

    @configurable
    def __init__(self, *, transformer: ConditionalTransformer, position_embedding: nn.Module, num_classes: int,
                 num_queries: int, aux_loss: bool = True, prior_prob: float = 0.01, **base_kwargs):
        super().__init__(**base_kwargs)
        in_channels = self.backbone.single_level_channels("Conditional DETR")
        hidden_dim = transformer.d_model
        self.transformer = transformer
        self.position_embedding = position_embedding
        self.input_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=1)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        # official: focal-loss prior on the class bias; the box head starts at the reference point
        self.class_embed, self.bbox_embed = class_and_box_heads(
            hidden_dim, num_classes, focal_prior=prior_prob, zero_box_offsets=True)
        self.aux_loss = aux_loss

    @classmethod
    def from_config(cls, cfg):
        detr = cfg.MODEL.DETR
        return {
            **super().from_config(cfg),
            "transformer": build_conditional_detr_transformer(cfg),
            "position_embedding": build_position_encoding(detr.POSITION_EMBEDDING, detr.HIDDEN_DIM),
            "num_classes": detr.NUM_CLASSES,
            "num_queries": detr.NUM_OBJECT_QUERIES,
            "aux_loss": detr.DEEP_SUPERVISION,
            "prior_prob": cfg.MODEL.CONDITIONAL_DETR.PRIOR_PROB,
        }

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        """levels: [(feature [B, C, H, W], mask [B, H, W])] -> outputs dict (see DETRBase).

        ``image_sizes`` and ``pixel_mask`` are not needed: the level mask comes with the feature.
        Also returns "reference_points" [B, Q, 2] (x, y), shared by every decoder layer.
        """
        feature, mask = levels[-1]
        pos = self.position_embedding(mask, dtype=feature.dtype)
        result = self.transformer(self.input_proj(feature), mask, self.query_embed.weight, pos)
        boxes = boxes_from_reference(self.bbox_embed(result.hs), result.references)
        outputs = pack_outputs(self.class_embed(result.hs), boxes, self.aux_loss)
        outputs["reference_points"] = result.references
        return outputs

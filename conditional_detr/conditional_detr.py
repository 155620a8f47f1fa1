"""Conditional DETR (Meng et al., ICCV 2021) as a Detectron2 meta-architecture."""
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.layers.boxes import boxes_from_reference
from projects.layers.heads import class_and_box_heads
from projects.modeling.meta_arch import pack_outputs
from projects.modeling.single_level import SingleLevelDETRBase

from .transformer import build_conditional_detr_transformer


@META_ARCH_REGISTRY.register()
class ConditionalDETR(SingleLevelDETRBase):
    """Single-level detector: 1x1 input projection, DETR encoder, conditional decoder, shared heads.

    ``class_embed`` has ``num_classes`` sigmoid logits (no no-object class; trained with focal loss);
    boxes are sigmoid-normalised cxcywh relative to each image's unpadded size, predicted relative to
    each query's reference point (paper Sec. 3.3: the centre gets the reference's logit, w and h no prior).
    """

    method_name = "Conditional DETR"
    class_loss = "focal"
    supports_pre_norm = False

    @configurable
    def __init__(self, *, num_classes: int, prior_prob: float = 0.01, **kwargs):
        """num_classes: sigmoid logits; prior_prob: initial class probability; kwargs: SingleLevelDETRBase's."""
        super().__init__(**kwargs)
        # official: focal-loss prior on the class bias; the box head starts at the reference point
        self.class_embed, self.bbox_embed = class_and_box_heads(
            self.transformer.d_model, num_classes, focal_prior=prior_prob, zero_box_offsets=True)

    @classmethod
    def from_config(cls, cfg):
        return {
            **super().from_config(cfg),
            "transformer": build_conditional_detr_transformer(cfg),
            "num_classes": cfg.MODEL.DETR.NUM_CLASSES,
            "prior_prob": cfg.MODEL.CONDITIONAL_DETR.PRIOR_PROB,
        }

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        """levels: [(feature [B, C, H, W], mask [B, H, W])] -> outputs dict (see DETRBase).

        ``image_sizes`` and ``pixel_mask`` are not needed: the level mask comes with the feature.
        Also returns "reference_points" [B, Q, 2] (x, y), shared by every decoder layer.
        """
        result = self.run_transformer(levels)
        boxes = boxes_from_reference(self.bbox_embed(result.hs), result.references)
        outputs = pack_outputs(self.class_embed(result.hs), boxes, self.aux_loss)
        outputs["reference_points"] = result.references
        return outputs

"""DETR (Carion et al. 2020) as a Detectron2 meta-architecture: the baseline of the family."""
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.layers.heads import class_and_box_heads
from projects.modeling.meta_arch import pack_outputs
from projects.modeling.single_level import SingleLevelDETRBase
from projects.detr.transformer import build_detr_transformer


@META_ARCH_REGISTRY.register()
class DETR(SingleLevelDETRBase):
    """Single-level DETR: 1x1 input projection, transformer, shared class/box heads on every layer.

    ``class_embed`` has ``num_classes + 1`` outputs (last = no-object); boxes are sigmoid-normalised
    cxcywh relative to each image's unpadded size.
    """

    method_name = "DETR"
    class_loss = "softmax"  # it predicts a no-object class

    @configurable
    def __init__(self, *, num_classes: int, **kwargs):
        """num_classes: object classes (the head adds the no-object logit); kwargs: SingleLevelDETRBase's."""
        super().__init__(**kwargs)
        self.class_embed, self.bbox_embed = class_and_box_heads(self.transformer.d_model, num_classes + 1)

    @classmethod
    def from_config(cls, cfg):
        return {
            **super().from_config(cfg),
            "transformer": build_detr_transformer(cfg),
            "num_classes": cfg.MODEL.DETR.NUM_CLASSES,
        }

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        """levels: [(feature [B, C, H, W], mask [B, H, W])] -> outputs dict (see DETRBase)."""
        hs = self.run_transformer(levels).hs
        return pack_outputs(self.class_embed(hs), self.bbox_embed(hs).sigmoid(), self.aux_loss)

"""What single- and multi-scale SMCA share: query embedding, class head, centre-prior box head."""
from torch import nn

from detectron2.config import configurable

from projects.layers.boxes import boxes_from_reference_logits
from projects.layers.heads import class_and_box_heads
from projects.layers.transformer_output import TransformerOutput
from projects.modeling.meta_arch import DETRBase, pack_outputs
from projects.layers.position_encoding import build_position_encoding

from .transformer import SMCATransformer


class SMCABase(DETRBase):
    """Base of the SMCA meta-architectures; subclasses provide ``input_levels``.

    Boxes (paper Eq. 12, official): sigmoid(MLP(hs) + [centre logits, 0, 0]) for every decoder
    layer, with the layer-0 centre logits. The class head has ``num_classes`` sigmoid outputs
    (an official COCO checkpoint has 92: ids 0..90 plus the never-positive DETR no-object column).
    """

    method_name = "SMCA"
    class_loss = "focal"
    supports_pre_norm = False  # the official pre-norm path crashes

    @configurable
    def __init__(self, *, transformer: SMCATransformer, position_embedding: nn.Module, num_classes: int,
                 num_queries: int, aux_loss: bool = True, **base_kwargs):
        super().__init__(**base_kwargs)
        hidden_dim = transformer.d_model
        self.transformer = transformer
        self.position_embedding = position_embedding
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        # official: focal prior on the class bias; the box head keeps PyTorch's default init
        self.class_embed, self.bbox_embed = class_and_box_heads(hidden_dim, num_classes, focal_prior=0.01)
        self.aux_loss = aux_loss

    @classmethod
    def from_config(cls, cfg):
        detr = cfg.MODEL.DETR
        return {
            **super().from_config(cfg),
            "position_embedding": build_position_encoding(detr.POSITION_EMBEDDING, detr.HIDDEN_DIM),
            "num_classes": detr.NUM_CLASSES,
            "num_queries": detr.NUM_OBJECT_QUERIES,
            "aux_loss": detr.DEEP_SUPERVISION,
        }

    def input_levels(self, levels, pixel_mask):
        """Backbone levels (+ the pixel mask [B, H, W], True = padding) -> (projected features
        [[B, C, H_l, W_l]], masks [[B, H_l, W_l]], strides)."""
        raise NotImplementedError

    def run_transformer(self, levels, image_sizes, pixel_mask) -> TransformerOutput:
        """The transformer's output (see SMCATransformer.forward) for the backbone levels."""
        srcs, masks, strides = self.input_levels(levels, pixel_mask)
        pos = [self.position_embedding(mask, dtype=src.dtype) for src, mask in zip(srcs, masks)]
        image_wh = image_sizes.flip(-1)  # (h, w) -> (w, h): the prior works in (x, y)
        return self.transformer(srcs, masks, pos, strides, self.query_embed.weight, image_wh)

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        """levels: [(feature, mask)]; image_sizes: [B, 2] (h, w); pixel_mask: [B, H, W] -> outputs (see DETRBase)."""
        out = self.run_transformer(levels, image_sizes, pixel_mask)
        return self.heads(out.hs, out.center_logits)

    def heads(self, hs, center_logits):
        """hs: [L, B, Q, C]; center_logits: [B, Q, 2] -> outputs with boxes around the centre prior."""
        # official: the raw point1 logits are the reference (no clamping)
        boxes = boxes_from_reference_logits(self.bbox_embed(hs), center_logits)
        return pack_outputs(self.class_embed(hs), boxes, self.aux_loss)

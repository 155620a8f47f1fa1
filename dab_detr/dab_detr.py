"""DAB-DETR (Liu et al., ICLR 2022), single-scale, as a Detectron2 meta-architecture."""
import torch
from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.layers.heads import class_and_box_heads
from projects.layers.position_encoding import build_position_encoding
from projects.modeling.single_level import SingleLevelDETRBase

from .anchors import refine_anchors
from .queries import AnchorQueries, init_anchor_queries
from .transformer import build_dab_detr_transformer


@META_ARCH_REGISTRY.register()
class DABDETR(AnchorQueries, SingleLevelDETRBase):
    """Single-level detector: 1x1 input projection, DAB encoder, anchor decoder, shared heads.

    The queries are ``refpoint_embed`` [Q, 4] (unsigmoided anchor boxes, learned) with zero content;
    the shared ``bbox_embed`` refines the anchors after every decoder layer and predicts each layer's
    boxes relative to the anchors that layer used. ``class_embed`` has ``num_classes`` sigmoid logits
    (focal loss). With MODEL.DN.ENABLED, training prepends DN-DETR's denoising queries (``AnchorQueries``).
    """

    method_name = "DAB-DETR"
    class_loss = "focal"
    supports_pre_norm = False

    @configurable
    def __init__(self, *, num_classes: int, prior_prob: float = 0.01, random_refpoints_xy: bool = False,
                 denoising=None, **kwargs):
        """num_classes: sigmoid logits; prior_prob: initial class probability; random_refpoints_xy: uniform
        initial anchor centres; denoising: DN-DETR training options (None: off); kwargs: SingleLevelDETRBase's."""
        super().__init__(**kwargs)
        num_queries, hidden_dim = self.query_embed.weight.shape
        del self.query_embed  # the base's learned queries: DAB-DETR's queries are anchors + (zero) content
        self.refpoint_embed = nn.Embedding(num_queries, 4)
        init_anchor_queries(self.refpoint_embed, random_refpoints_xy)
        # official: focal-loss prior on the class bias; the box head starts at the anchor
        self.class_embed, self.bbox_embed = class_and_box_heads(
            hidden_dim, num_classes, focal_prior=prior_prob, zero_box_offsets=True)
        self.setup_denoising(denoising, num_classes, hidden_dim)

    @classmethod
    def from_config(cls, cfg):
        detr, options = cfg.MODEL.DETR, cfg.MODEL.DAB_DETR
        return {
            **super().from_config(cfg),
            "transformer": build_dab_detr_transformer(cfg),
            # official PositionEmbeddingSineHW: DETR's sine encoding at temperature 20 on both axes
            "position_embedding": build_position_encoding(detr.POSITION_EMBEDDING, detr.HIDDEN_DIM,
                                                          temperature=options.POSITION_TEMPERATURE),
            "num_classes": detr.NUM_CLASSES,
            "prior_prob": options.PRIOR_PROB,
            "random_refpoints_xy": options.RANDOM_REFPOINTS_XY,
            "denoising": cls.denoising_from_config(cfg),
        }

    def matching_content(self, batch: int) -> torch.Tensor:
        """[B, Q, C] content of the matching queries: zeros (official DAB-DETR); with denoising, the label
        embedding's extra "no object" row + indicator 0 (official DN-DAB-DETR)."""
        num_queries = self.refpoint_embed.num_embeddings
        if self.label_enc is None:
            return self.refpoint_embed.weight.new_zeros(batch, num_queries, self.transformer.d_model)
        return self.unknown_content(batch, num_queries)

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        """levels: [(feature [B, C, H, W], mask [B, H, W])] (the last one is used) -> outputs dict (see
        DETRBase); also "anchors": the L anchors [B, Q, 4] the decoder layers used. In training with
        denoising, the denoising part goes to outputs["dn_outputs"] / ["dn_queries"] (``AnchorQueries``)."""
        feature, mask = levels[-1]
        pos = self.position_embedding(mask, dtype=feature.dtype)
        batch = feature.shape[0]
        queries = self.queries(self.matching_content(batch), self.refpoint_embed.weight, targets)
        result = self.transformer(self.input_proj(feature), mask, pos, queries.content, queries.anchor_logits,
                                  self.bbox_embed, queries.attn_mask)
        logits = self.class_embed(result.hs)
        boxes = torch.stack([refine_anchors(self.bbox_embed, hs, anchors)
                             for hs, anchors in zip(result.hs, result.references)])
        return self.pack_with_denoising(logits, boxes, result.references, queries)

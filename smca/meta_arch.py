"""What single- and multi-scale SMCA share: query embedding, class head, centre-prior box head."""

import torch
from torch import nn

from detectron2.config import configurable

from projects.config import require_class_loss
from projects.layers import MLP, init_focal_class_bias
from projects.meta_arch import DETRBase, pack_outputs
from projects.position_encoding import build_position_encoding

from .transformer import SMCATransformer, build_smca_transformer

def smca_transformer_from_config(cfg, unit_stride, num_levels, encoder_blocks):
    """build_smca_transformer with MODEL.DETR / MODEL.SMCA settings."""
    detr, smca = cfg.MODEL.DETR, cfg.MODEL.SMCA
    return build_smca_transformer(
        d_model=detr.HIDDEN_DIM, nhead=detr.NHEADS, encoder_blocks=encoder_blocks,
        num_decoder_layers=detr.DEC_LAYERS, dim_feedforward=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT,
        scale_mode=smca.SCALE_MODE, head_shared=smca.HEAD_SHARED, smooth=smca.SMOOTH, unit_stride=unit_stride,
        num_levels=num_levels, scale_selection=smca.SCALE_SELECTION,
        shared_projections=smca.SHARED_SCALE_PROJECTIONS,
    )


class SMCABase(DETRBase):
    """Base of the SMCA meta-architectures; subclasses provide ``input_levels``.

    Boxes (paper Eq. 12, official): sigmoid(MLP(hs) + [centre logits, 0, 0]) for every decoder
    layer, with the layer-0 centre logits. The class head has ``num_classes`` sigmoid outputs
    (an official COCO checkpoint has 92: ids 0..90 plus the never-positive DETR no-object column).
    """

    @configurable
    def __init__(self, *, transformer: SMCATransformer, position_embedding: nn.Module, num_classes: int,
                 num_queries: int, aux_loss: bool = True, **base_kwargs):
        super().__init__(**base_kwargs)
        hidden_dim = transformer.d_model
        self.transformer = transformer
        self.position_embedding = position_embedding
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.class_embed = nn.Linear(hidden_dim, num_classes)
        init_focal_class_bias(self.class_embed)
        self.bbox_embed = MLP(hidden_dim, hidden_dim, 4, 3)
        self.aux_loss = aux_loss

    @classmethod
    def from_config(cls, cfg):
        detr = cfg.MODEL.DETR
        require_class_loss(cfg, "focal", "SMCA")
        if detr.PRE_NORM:
            raise ValueError("SMCA is post-norm only (the official pre-norm path crashes): "
                             "set MODEL.DETR.PRE_NORM False")
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

    def run_transformer(self, levels, image_sizes, pixel_mask):
        """The transformer's output dict (see SMCATransformer.forward) for the backbone levels."""
        srcs, masks, strides = self.input_levels(levels, pixel_mask)
        pos = [self.position_embedding(mask, dtype=src.dtype) for src, mask in zip(srcs, masks)]
        image_wh = image_sizes.flip(-1)  # (h, w) -> (w, h): the prior works in (x, y)
        return self.transformer(srcs, masks, pos, strides, self.query_embed.weight, image_wh)

    def predict(self, levels, image_sizes, pixel_mask):
        """levels: [(feature, mask)]; image_sizes: [B, 2] (h, w); pixel_mask: [B, H, W] -> outputs (see DETRBase)."""
        out = self.run_transformer(levels, image_sizes, pixel_mask)
        return self.heads(out["hs"], out["center_logits"])

    def heads(self, hs, center_logits):
        """hs: [L, B, Q, C]; center_logits: [B, Q, 2] -> outputs with boxes around the centre prior."""
        deltas = self.bbox_embed(hs)
        centers = deltas[..., :2] + center_logits  # official: raw point1 logits, no clamping
        boxes = torch.cat((centers, deltas[..., 2:]), dim=-1).sigmoid()
        return pack_outputs(self.class_embed(hs), boxes, self.aux_loss)

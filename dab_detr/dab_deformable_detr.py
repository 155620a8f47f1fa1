"""DAB-Deformable-DETR (DAB-DETR's anchor queries on Deformable DETR, Liu et al. ICLR 2022) as a
Detectron2 meta-architecture."""
import torch
from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.layers.deformable.heads import build_heads
from projects.layers.init import init_focal_class_bias
from projects.layers.input_proj import InputProjections
from projects.layers.position_encoding import build_position_encoding
from projects.modeling.meta_arch import DETRBase

from .anchors import refine_anchors
from .deformable_transformer import DABDeformableTransformer, build_dab_deformable_transformer
from .queries import AnchorQueries, init_anchor_queries

# Deformable DETR's sine embedding: (cumsum - 0.5) / (last + eps) * 2pi at temperature 10000
POSITION_OFFSET = -0.5


@META_ARCH_REGISTRY.register()
class DABDeformableDETR(AnchorQueries, DETRBase):
    """Deformable DETR's levels and encoder; queries = learned content ``tgt_embed`` [Q, C] + anchors
    ``refpoint_embed`` [Q, 4] (unsigmoided); iterative box refinement always on (official: one class and
    box head per decoder layer, each layer's boxes relative to the anchors it used). Focal loss.

    With MODEL.DN.ENABLED (DN-DAB-Deformable-DETR) ``tgt_embed`` is C - 1 wide and the content of the
    matching queries is [tgt_embed, indicator 0]; training prepends the denoising queries.
    """

    method_name = "DAB-Deformable-DETR"
    class_loss = "focal"
    supports_pre_norm = False
    logs_box_parts = False  # the official deformable criterion has no loss_xy / loss_hw

    @configurable
    def __init__(self, *, transformer: DABDeformableTransformer, position_embedding: nn.Module, num_classes: int,
                 num_queries: int, prior_prob: float = 0.01, random_refpoints_xy: bool = False, denoising=None,
                 aux_loss: bool = True, **base_kwargs):
        """
        Args:
            transformer: its ``num_levels`` sets the input projections.
            position_embedding: mask [B, H, W] -> [B, C, H, W] (sine with offset -0.5 officially).
            num_classes: logits per query (focal loss); num_queries: anchors.
            prior_prob: initial class probability; random_refpoints_xy: uniform anchor centres.
            denoising: DN-DETR training options (None: off).
            aux_loss: supervise every decoder layer.
            base_kwargs: DETRBase arguments (backbone, criterion, pixel_mean, pixel_std, ...).
        """
        super().__init__(**base_kwargs)
        hidden_dim = transformer.d_model
        self.transformer = transformer
        self.position_embedding = position_embedding
        self.input_proj = InputProjections(self.backbone.num_channels, hidden_dim, transformer.num_levels)
        self.setup_denoising(denoising, num_classes, hidden_dim)
        # official DN: the last content channel is the denoising indicator (0 for the matching queries)
        self.tgt_embed = nn.Embedding(num_queries, hidden_dim - int(denoising is not None))
        self.refpoint_embed = nn.Embedding(num_queries, 4)
        init_anchor_queries(self.refpoint_embed, random_refpoints_xy)
        self.class_embed, self.bbox_embed = build_heads(hidden_dim, num_classes, len(transformer.decoder.layers),
                                                        shared=False)
        for class_head in self.class_embed:
            init_focal_class_bias(class_head, prior_prob)
        self.aux_loss = aux_loss

    @classmethod
    def from_config(cls, cfg):
        detr, options = cfg.MODEL.DETR, cfg.MODEL.DAB_DETR
        return {
            **super().from_config(cfg),
            "transformer": build_dab_deformable_transformer(cfg),
            "position_embedding": build_position_encoding(detr.POSITION_EMBEDDING, detr.HIDDEN_DIM, POSITION_OFFSET),
            "num_classes": detr.NUM_CLASSES,
            "num_queries": detr.NUM_OBJECT_QUERIES,
            "prior_prob": options.PRIOR_PROB,
            "random_refpoints_xy": options.RANDOM_REFPOINTS_XY,
            "denoising": cls.denoising_from_config(cfg),
            "aux_loss": detr.DEEP_SUPERVISION,
        }

    def matching_content(self, batch: int) -> torch.Tensor:
        """[B, Q, C]: ``tgt_embed`` (with denoising: + indicator channel 0)."""
        content = self.tgt_embed.weight
        if self.label_enc is not None:
            content = torch.cat((content, content.new_zeros(len(content), 1)), 1)
        return content.expand(batch, -1, -1)

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        """levels: backbone [(feature [B, C_l, H_l, W_l], mask [B, H_l, W_l])]; pixel_mask: [B, H, W]
        (the extra levels' masks are resized from it) -> outputs dict (see DETRBase) + "anchors"."""
        projected = self.input_proj(levels, pixel_mask)
        srcs = [src for src, _ in projected]
        masks = [mask for _, mask in projected]
        pos_embeds = [self.position_embedding(mask, dtype=src.dtype) for src, mask in projected]
        queries = self.queries(self.matching_content(srcs[0].shape[0]), self.refpoint_embed.weight, targets)
        result = self.transformer(srcs, masks, pos_embeds, queries.content, queries.anchor_logits, self.bbox_embed,
                                  queries.attn_mask)
        logits = torch.stack([head(hs) for head, hs in zip(self.class_embed, result.hs)])
        boxes = torch.stack([refine_anchors(head, hs, anchors)
                             for head, hs, anchors in zip(self.bbox_embed, result.hs, result.references)])
        return self.pack_with_denoising(logits, boxes, result.references, queries)

"""Deformable DETR (Zhu et al., ICLR 2021) as a Detectron2 meta-architecture, in all four variants."""
from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.modeling.criterion import build_criterion
from projects.layers.heads import per_layer_predictions
from projects.layers.input_proj import InputProjections
from projects.modeling.meta_arch import DETRBase, pack_outputs
from projects.layers.position_encoding import build_position_encoding

from .build import build_deformable_transformer
from .heads import build_heads
from .transformer import DeformableTransformer

# Deformable DETR's sine embedding is (cumsum - 0.5) / (last + eps) * 2pi (DETR's has no offset)
POSITION_OFFSET = -0.5


@META_ARCH_REGISTRY.register()
class DeformableDETR(DETRBase):
    """Multi-level input projections, deformable transformer, focal-loss class heads and boxes
    predicted relative to each decoder layer's reference point (Appendix A.3).

    Variants (from the transformer and ``with_box_refine``): single-scale (1 level), multi-scale
    (4 levels), + iterative box refinement (one head per layer, the decoder refines its reference
    after every layer), + two-stage (encoder proposals become the queries; ``enc_outputs`` feed
    the criterion's two-stage loss). Class logits are [B, Q, num_classes] sigmoid scores.
    """

    method_name = "Deformable DETR"
    class_loss = "focal"
    supports_pre_norm = False

    @configurable
    def __init__(self, *, transformer: DeformableTransformer, position_embedding: nn.Module, num_classes: int,
                 num_queries: int, with_box_refine: bool = False, aux_loss: bool = True, **base_kwargs):
        """
        Args:
            transformer: its ``num_levels`` and ``two_stage`` select the variant.
            position_embedding: mask [B, H, W] -> [B, C, H, W] (sine with offset -0.5 officially).
            num_classes: logits per query (focal loss, no no-object logit).
            num_queries: object queries; two-stage: the encoder's top proposals are the queries, so it
                must equal the transformer's ``num_proposals`` (both come from MODEL.DETR.NUM_OBJECT_QUERIES).
            with_box_refine: independent heads per decoder layer that refine the reference.
            aux_loss: supervise every decoder layer.
            base_kwargs: DETRBase arguments (backbone, criterion, pixel_mean, pixel_std, ...).
        """
        super().__init__(**base_kwargs)
        hidden_dim = transformer.d_model
        if transformer.two_stage and not with_box_refine:
            raise ValueError("Two-stage Deformable DETR needs iterative box refinement (official: the proposal "
                             "head is the extra refinement head); set MODEL.DEFORMABLE_DETR.WITH_BOX_REFINE True")
        if transformer.two_stage and transformer.num_proposals != num_queries:
            raise ValueError(f"num_queries ({num_queries}) must equal the two-stage transformer's num_proposals "
                             f"({transformer.num_proposals}): its top encoder proposals are the object queries")
        self.transformer = transformer
        self.position_embedding = position_embedding
        self.input_proj = InputProjections(self.backbone.num_channels, hidden_dim, transformer.num_levels)
        if not transformer.two_stage:
            self.query_embed = nn.Embedding(num_queries, 2 * hidden_dim)
        num_heads = len(transformer.decoder.layers) + int(transformer.two_stage)
        self.class_embed, self.bbox_embed = build_heads(
            hidden_dim, num_classes, num_heads, shared=not with_box_refine, two_stage=transformer.two_stage
        )
        self.with_box_refine = with_box_refine
        self.aux_loss = aux_loss

    @classmethod
    def from_config(cls, cfg):
        detr = cfg.MODEL.DETR
        num_queries = detr.NUM_OBJECT_QUERIES  # read once: the queries, and the two-stage proposals
        return {
            **super().from_config(cfg),
            "transformer": build_deformable_transformer(cfg, num_proposals=num_queries),
            "position_embedding": build_position_encoding(detr.POSITION_EMBEDDING, detr.HIDDEN_DIM, POSITION_OFFSET),
            "num_classes": detr.NUM_CLASSES,
            "num_queries": num_queries,
            "with_box_refine": cfg.MODEL.DEFORMABLE_DETR.WITH_BOX_REFINE,
            "aux_loss": detr.DEEP_SUPERVISION,
        }

    @classmethod
    def criterion_from_config(cls, cfg, class_loss):
        """Two-stage also supervises the encoder proposals (``_enc`` losses)."""
        return build_criterion(cfg, class_loss, two_stage=cfg.MODEL.DEFORMABLE_DETR.TWO_STAGE)

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        """levels: backbone [(feature [B, C_l, H_l, W_l], mask [B, H_l, W_l])]; pixel_mask: [B, H, W]
        (the extra levels' masks are resized from it) -> outputs dict (see DETRBase)."""
        projected = self.input_proj(levels, pixel_mask)
        srcs = [src for src, _ in projected]
        masks = [mask for _, mask in projected]
        pos_embeds = [self.position_embedding(mask, dtype=src.dtype) for src, mask in projected]
        two_stage = self.transformer.two_stage
        result = self.transformer(
            srcs, masks, pos_embeds,
            query_embed=None if two_stage else self.query_embed.weight,
            box_heads=self.bbox_embed if self.with_box_refine else None,
            proposal_heads=(self.class_embed[-1], self.bbox_embed[-1]) if two_stage else None,
        )
        logits, boxes = per_layer_predictions(self.class_embed, self.bbox_embed, result.hs, result.references)
        outputs = pack_outputs(logits, boxes, self.aux_loss)
        if result.enc_outputs is not None:
            outputs["enc_outputs"] = result.enc_outputs
        return outputs

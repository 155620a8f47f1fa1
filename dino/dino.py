"""DINO (Zhang et al., ICLR 2023) as a Detectron2 meta-architecture: 4-scale by default, 5-scale by config."""
from typing import Optional

from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.layers.heads import class_and_box_heads, per_layer_predictions, repeat_head
from projects.layers.input_proj import InputProjections
from projects.layers.position_encoding import PositionEmbeddingSine
from projects.modeling.denoising.queries import DN_QUERIES_KEY
from projects.modeling.meta_arch import DETRBase, pack_outputs

from .build import build_dino_transformer
from .criterion import build_dino_criterion
from .decoder import INVERSE_SIGMOID_EPS
from .denoising import DenoisingSettings, denoising_queries, split_outputs
from .transformer import DINOTransformer

INTERM_KEY = "interm_outputs"


@META_ARCH_REGISTRY.register()
class DINO(DETRBase):
    """Multi-level input projections, deformable encoder, mixed query selection, anchor decoder with
    look-forward-twice refinement, and contrastive denoising (CDN) in training.

    One class head and one box MLP serve every decoder layer (official ``dec_pred_*_embed_share``);
    layer i's box is predicted relative to the undetached reference layer i - 1 produced. Outputs:
    ``pred_logits`` [B, Q, K], ``pred_boxes`` [B, Q, 4], ``aux_outputs``, ``interm_outputs`` (the
    selected encoder proposals, supervised with the real labels) and, in training with targets, the
    denoising part (``projects.modeling.denoising``).
    """

    method_name = "DINO"
    class_loss = "focal"
    supports_pre_norm = False

    @configurable
    def __init__(self, *, transformer: DINOTransformer, position_embedding: nn.Module, num_classes: int,
                 denoising: DenoisingSettings, aux_loss: bool = True, **base_kwargs):
        """
        Args:
            transformer: its ``num_levels`` and ``num_queries`` size the model.
            position_embedding: mask [B, H, W] -> [B, C, H, W] (sine, temperature 20, officially).
            num_classes: class logits per query (focal loss).
            denoising: the CDN settings (groups, noise); ``num_groups`` 0 disables denoising.
            aux_loss: supervise every decoder layer.
            base_kwargs: DETRBase arguments (backbone, criterion, pixel_mean, pixel_std, ...).
        """
        super().__init__(**base_kwargs)
        hidden_dim = transformer.d_model
        self.transformer = transformer
        self.position_embedding = position_embedding
        self.input_proj = InputProjections(self.backbone.num_channels, hidden_dim, transformer.num_levels)
        num_layers = len(transformer.decoder.layers)
        class_head, box_head = class_and_box_heads(hidden_dim, num_classes, focal_prior=0.01, zero_box_offsets=True)
        self.class_embed = repeat_head(class_head, num_layers, shared=True)
        self.bbox_embed = repeat_head(box_head, num_layers, shared=True)
        # official: one row per label of the label book, plus one (never drawn)
        self.label_enc = nn.Embedding(denoising.labelbook_size + 1, hidden_dim)
        self.denoising = denoising
        self.aux_loss = aux_loss

    @classmethod
    def from_config(cls, cfg):
        detr = cfg.MODEL.DETR
        options = cfg.MODEL.DINO
        return {
            **super().from_config(cfg),
            "transformer": build_dino_transformer(cfg),
            "position_embedding": PositionEmbeddingSine(detr.HIDDEN_DIM // 2, temperature=options.POSITION_TEMPERATURE,
                                                        normalize=True),
            "num_classes": detr.NUM_CLASSES,
            "denoising": DenoisingSettings.from_config(cfg),
            "aux_loss": detr.DEEP_SUPERVISION,
        }

    @classmethod
    def criterion_from_config(cls, cfg, class_loss):
        """Matching, aux, ``_interm`` and denoising (``_dn``) losses."""
        return build_dino_criterion(cfg, class_loss)

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        """levels: backbone [(feature [B, C_l, H_l, W_l], mask [B, H_l, W_l])]; pixel_mask: [B, H, W]
        (the extra level's mask is resized from it); targets: prepared targets in training (they
        build the denoising queries), None at inference -> outputs dict (see the class docstring)."""
        projected = self.input_proj(levels, pixel_mask)
        srcs = [src for src, _ in projected]
        masks = [mask for _, mask in projected]
        pos_embeds = [self.position_embedding(mask, dtype=src.dtype) for src, mask in projected]
        queries = self.batch_denoising_queries(targets) if self.training else None
        dn_inputs = {} if queries is None else {
            "dn_content": queries.content, "dn_anchors": queries.anchors, "self_attn_mask": queries.attn_mask}
        result = self.transformer(srcs, masks, pos_embeds, box_heads=self.bbox_embed, **dn_inputs)
        # official: ties label_enc into the graph when no denoising query uses it (adds exactly 0)
        hs = result.hs + self.label_enc.weight[0, 0] * 0.0
        logits, boxes = per_layer_predictions(self.class_embed, self.bbox_embed, hs, result.references[:-1],
                                              eps=INVERSE_SIGMOID_EPS)
        (logits, boxes), dn_outputs = split_outputs(logits, boxes, queries, self.aux_loss)
        outputs = pack_outputs(logits, boxes, self.aux_loss)
        outputs[INTERM_KEY] = result.enc_outputs
        outputs.update(dn_outputs)
        return outputs

    def prepare_targets(self, batched_inputs):
        """DETRBase's targets; with denoising on, every target dict also holds the batch's CDN queries
        (``DN_QUERIES_KEY``). They are drawn here, outside ``predict``: the official draw order draws a
        data-dependent number of labels, which a compiled ``predict`` (MODEL.COMPILE) cannot trace."""
        targets = super().prepare_targets(batched_inputs)
        queries = self.denoising_queries(targets)
        if queries is not None:
            targets = [{**target, DN_QUERIES_KEY: queries} for target in targets]
        return targets

    def batch_denoising_queries(self, targets: Optional[list]):
        """The CDN queries ``prepare_targets`` drew, else (targets prepared elsewhere) drawn now."""
        if targets and DN_QUERIES_KEY in targets[0]:
            return targets[0][DN_QUERIES_KEY]
        return self.denoising_queries(targets)

    def denoising_queries(self, targets: Optional[list]):
        """The CDN queries of a training batch (None without targets or with denoising off)."""
        if targets is None or self.denoising.num_groups <= 0:
            return None
        return self.denoising_queries_for(targets)

    def denoising_queries_for(self, targets: list, generator=None):
        """The CDN queries ``targets`` give (global RNG, as the official draws; or ``generator``)."""
        return denoising_queries(targets, self.label_enc, self.transformer.num_queries, self.denoising, generator)

"""The queries of the DAB models: learned anchors (+ content), and in training the DN-DETR denoising
queries prepended to them (Li et al., CVPR 2022), built by the shared ``projects.modeling.denoising``."""
from typing import List, NamedTuple, Optional

import torch
from torch import Tensor, nn

from projects.layers.misc import inverse_sigmoid
from projects.modeling.criterion import build_criterion
from projects.modeling.denoising import (
    DenoisingQueries, build_denoising_criterion, build_dn_queries, check_denoising_settings, pack_denoising_outputs,
    split_denoising,
)
from projects.modeling.meta_arch import pack_outputs

# official DAB-DETR / DN-DETR util/box_ops: union + 1e-6 and enclosing area + 1e-6 in the GIoU
GIOU_EPS = 1e-6


class DenoisingOptions(NamedTuple):
    """MODEL.DN: groups (official ``scalar``), label flip probability, box noise scale."""

    num_groups: int
    label_noise_ratio: float
    box_noise_scale: float


class Queries(NamedTuple):
    """What the decoder receives: content [B, P + Q, C], unsigmoided anchors [B, P + Q, 4], the
    self-attention mask [P + Q, P + Q] (True = blocked; None without denoising) and the denoising part
    (None without; its P rows come first)."""

    content: Tensor
    anchor_logits: Tensor
    attn_mask: Optional[Tensor]
    denoising: Optional[DenoisingQueries]


def init_anchor_queries(refpoint_embed: nn.Embedding, random_xy: bool) -> None:
    """Official ``random_refpoints_xy``: anchor centres drawn uniform in (0, 1) (stored as logits).

    The official code then sets ``requires_grad = False`` on a slice of ``.data``, which freezes nothing:
    the centres train like the rest, here too."""
    if not random_xy:
        return
    with torch.no_grad():
        refpoint_embed.weight[:, :2].uniform_(0, 1)
        refpoint_embed.weight[:, :2] = inverse_sigmoid(refpoint_embed.weight[:, :2])


class AnchorQueries:
    """Mixin of ``DABDETR`` and ``DABDeformableDETR`` (placed before their base class): denoising setup,
    the queries of one forward and the outputs split. ``label_enc`` (Embedding(K + 1, C - 1), official
    name) is a module only with denoising (None without; set by ``setup_denoising``)."""

    logs_box_parts = True  # the criterion logs loss_xy / loss_hw (official single-scale DAB-DETR)

    def setup_denoising(self, denoising: Optional[DenoisingOptions], num_classes: int, hidden_dim: int) -> None:
        """Create the label embedding of the denoising queries (K + 1 rows: the last one, "no object",
        is the content of the matching queries in the single-scale DN-DAB-DETR)."""
        self.denoising = denoising
        self.num_classes = num_classes
        self.label_enc = nn.Embedding(num_classes + 1, hidden_dim - 1) if denoising is not None else None

    @staticmethod
    def denoising_from_config(cfg) -> Optional[DenoisingOptions]:
        """MODEL.DN, checked here (before training) with one-line errors; None when disabled."""
        dn = cfg.MODEL.DN
        if not dn.ENABLED:
            return None
        check_denoising_settings(num_groups=dn.NUM_GROUPS, label_noise_ratio=dn.LABEL_NOISE_RATIO,
                                 box_noise_scale=dn.BOX_NOISE_SCALE)
        return DenoisingOptions(dn.NUM_GROUPS, dn.LABEL_NOISE_RATIO, dn.BOX_NOISE_SCALE)

    @classmethod
    def criterion_from_config(cls, cfg, class_loss):
        """The shared criterion with the official DAB-DETR details (GIoU denominators + 1e-6; the
        single-scale model also logs loss_xy / loss_hw); with MODEL.DN also the DN-DETR losses (``tgt_*``)."""
        options = {"log_box_parts": cls.logs_box_parts, "giou_eps": GIOU_EPS}
        if not cfg.MODEL.DN.ENABLED:
            return build_criterion(cfg, class_loss, **options)
        return build_denoising_criterion(cfg, class_loss, "noised", **options)

    def unknown_content(self, batch: int, num_queries: int) -> Tensor:
        """[B, Q, C]: [label_enc("no object" row K), indicator 0] for every query (official DN-DAB-DETR)."""
        row = self.label_enc.weight[self.num_classes]
        content = torch.cat((row, row.new_zeros(1)))
        return content.expand(batch, num_queries, -1)

    def build_denoising(self, targets: List[dict], num_queries: int) -> DenoisingQueries:
        """This batch's DN-DETR queries (random draws from torch's global generator, official order)."""
        options = self.denoising
        return build_dn_queries(targets, self.label_enc, num_queries=num_queries, num_groups=options.num_groups,
                                label_noise_ratio=options.label_noise_ratio,
                                box_noise_scale=options.box_noise_scale, num_classes=self.num_classes)

    def queries(self, content: Tensor, anchor_logits: Tensor, targets=None) -> Queries:
        """content: [B, Q, C] matching content; anchor_logits: [Q, 4] or [B, Q, 4]; targets: training
        targets (None at inference) -> Queries, denoising rows first when training with denoising."""
        batch, num_queries = content.shape[:2]
        anchor_logits = anchor_logits.expand(batch, num_queries, 4)
        if not (self.training and self.denoising is not None and targets is not None):
            return Queries(content, anchor_logits, None, None)
        dn = self.build_denoising(targets, num_queries)
        return Queries(torch.cat((dn.content.to(content.dtype), content), 1),
                       torch.cat((dn.anchors.to(anchor_logits.dtype), anchor_logits), 1), dn.attn_mask, dn)

    def pack_with_denoising(self, logits: Tensor, boxes: Tensor, anchors: List[Tensor], queries: Queries):
        """logits [L, B, P + Q, K], boxes [L, B, P + Q, 4], anchors L x [B, P + Q, 4] -> the outputs dict
        of the matching queries (+ "anchors", L x [B, Q, 4]); with denoising also the dn part
        (``pack_denoising_outputs``) for the criterion."""
        pad = 0 if queries.denoising is None else queries.denoising.pad_size
        dn_logits, logits = split_denoising(logits, pad)
        dn_boxes, boxes = split_denoising(boxes, pad)
        outputs = pack_outputs(logits, boxes, self.aux_loss)
        outputs["anchors"] = [split_denoising(layer, pad)[1] for layer in anchors]
        if queries.denoising is not None:
            outputs.update(pack_denoising_outputs(dn_logits, dn_boxes, queries.denoising, self.aux_loss))
        return outputs

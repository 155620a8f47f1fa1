"""Build one training batch's denoising queries: DN-DETR's noised copies and DINO's contrastive groups.

Both follow the official ``prepare_for_dn`` (DN-DETR) / ``prepare_for_cdn`` (DINO): the batch's N boxes,
image by image, are repeated copy-major; labels are flipped, then boxes jittered (that draw order);
the noised labels go through the label embedding and the noised boxes through inverse_sigmoid (eps
1e-3) into the rows of ``queries.DenoisingQueries``.
"""
from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

from projects.layers.misc import inverse_sigmoid
from projects.modeling.denoising.groups import cdn_num_groups, check_query_budget, denoising_attention_mask
from projects.modeling.denoising.noise import flip_labels, jitter_box_corners, jitter_boxes
from projects.modeling.denoising.queries import DenoisingQueries, per_image_rows, scatter_rows

# Official DN-DETR and DINO: inverse_sigmoid of the noised boxes uses eps 1e-3.
ANCHOR_EPS = 1e-3


def build_dn_queries(targets: List[Dict[str, Tensor]], label_embedding: nn.Embedding, *, num_queries: int,
                     num_groups: int, label_noise_ratio: float, box_noise_scale: float, num_classes: int,
                     max_queries: Optional[int] = None,
                     generator: Optional[torch.Generator] = None) -> DenoisingQueries:
    """DN-DETR denoising queries (Li et al. 2022, Sec. 3; official ``prepare_for_dn``).

    Args:
        targets: B dicts with "labels" [n_b] int64 and "boxes" [n_b, 4] normalised cxcywh.
        label_embedding: Embedding(num_classes + 1, C - 1); content = [label_embedding(noised label), 1]
            (the last channel is the denoising indicator; 0 on padding rows and on matching queries).
        num_queries: Q, the matching queries the decoder runs beside them (for the attention mask).
        num_groups: G, noised copies of every box (official ``scalar``); group_size = max n_b.
        label_noise_ratio: probability of replacing a label by a uniform class in [0, num_classes)
            (official ``label_noise_scale``).
        box_noise_scale: lambda of the centre/size jitter (``noise.jitter_boxes``).
        max_queries: optional budget on P = G * max n_b (DenoisingConfigError beyond it); None: none.
        generator: None = torch's global generator (the official draws: uniform [G*N], integers for the
            flipped labels, uniform [G*N, 4]).
    Returns:
        DenoisingQueries with content [B, P, C], anchors [B, P, 4], attn_mask [P + Q, P + Q].
    """
    counts = [len(t["labels"]) for t in targets]
    group_size = max(counts, default=0)
    check_query_budget(num_groups * group_size, num_groups, group_size, max_queries)
    known = _repeat_targets(targets, counts, num_groups, group_size)
    labels = flip_labels(known["labels"], label_noise_ratio, num_classes, generator)
    boxes = jitter_boxes(known["boxes"], box_noise_scale, generator)
    embedded = label_embedding(labels)
    content = torch.cat([embedded, embedded.new_ones(len(labels), 1)], dim=1)
    positive = torch.ones_like(labels, dtype=torch.bool)
    return _assemble(known, labels, boxes, content, positive, len(targets), num_groups, group_size,
                     num_queries, contrastive=False)


def build_cdn_queries(targets: List[Dict[str, Tensor]], label_embedding: nn.Embedding, *, num_queries: int,
                      dn_number: int, label_noise_ratio: float, box_noise_scale: float, num_classes: int,
                      max_queries: Optional[int] = None,
                      generator: Optional[torch.Generator] = None) -> DenoisingQueries:
    """DINO contrastive denoising queries (Zhang et al. 2022, Sec. 3.3; official ``prepare_for_cdn``).

    Args:
        targets: as ``build_dn_queries``.
        label_embedding: Embedding(num_classes + 1, C); content = label_embedding(noised label).
        num_queries: Q, the matching queries (DINO: the selected top-k) for the attention mask.
        dn_number: the official setting: G = ``groups.cdn_num_groups(dn_number, max n_b)`` groups of
            2 * max n_b rows (positive copy, then negative copy).
        label_noise_ratio: the official ``dn_label_noise_ratio``; a label flips with probability half of it.
        box_noise_scale: lambda of the corner jitter (``noise.jitter_box_corners``; negatives move by
            [1, 2) lambda, positives by [0, 1) lambda).
        max_queries, generator: as ``build_dn_queries`` (draws: uniform [2G*N], integers for the flipped
            labels, signs [2G*N, 4], uniform [2G*N, 4]).
    Returns:
        DenoisingQueries (contrastive) with content [B, P, C], anchors [B, P, 4], attn_mask [P + Q, P + Q].
    """
    counts = [len(t["labels"]) for t in targets]
    single_pad = max(counts, default=0)
    num_groups = cdn_num_groups(dn_number, single_pad)
    check_query_budget(2 * num_groups * single_pad, num_groups, single_pad, max_queries, "contrastive denoising")
    known = _repeat_targets(targets, counts, 2 * num_groups, single_pad)
    negative = known["copy"] % 2 == 1
    labels = flip_labels(known["labels"], label_noise_ratio * 0.5, num_classes, generator)
    boxes = jitter_box_corners(known["boxes"], box_noise_scale, negative, generator)
    return _assemble(known, labels, boxes, label_embedding(labels), ~negative, len(targets), num_groups,
                     2 * single_pad, num_queries, contrastive=True)


def _repeat_targets(targets, counts: List[int], num_copies: int, copy_size: int) -> Dict[str, Tensor]:
    """The batch's boxes repeated ``num_copies`` times, copy-major: labels [M], boxes [M, 4], batch_index,
    target_index, copy [M] and query_index [M] = copy * copy_size + target_index."""
    device = targets[0]["boxes"].device if targets else torch.device("cpu")
    labels = torch.cat([t["labels"] for t in targets]) if targets else torch.zeros(0, dtype=torch.int64)
    boxes = torch.cat([t["boxes"] for t in targets]) if targets else torch.zeros(0, 4)
    batch_index, target_index = per_image_rows(counts, device)
    copy = torch.arange(num_copies, device=device).repeat_interleave(len(labels))
    target_index = target_index.repeat(num_copies)
    return {"labels": labels.repeat(num_copies), "boxes": boxes.repeat(num_copies, 1),
            "batch_index": batch_index.repeat(num_copies), "target_index": target_index, "copy": copy,
            "query_index": copy * copy_size + target_index}


def _assemble(known, labels, boxes, content, positive, batch_size, num_groups, group_size, num_queries,
              contrastive) -> DenoisingQueries:
    """Scatter the noised rows into [B, P, ...] and add the attention mask."""
    shape = (batch_size, num_groups * group_size)
    anchors = inverse_sigmoid(boxes, eps=ANCHOR_EPS)
    return DenoisingQueries(
        content=scatter_rows(content, shape, known["batch_index"], known["query_index"]),
        anchors=scatter_rows(anchors, shape, known["batch_index"], known["query_index"]),
        attn_mask=denoising_attention_mask(num_groups, group_size, num_queries, device=boxes.device),
        num_groups=num_groups, group_size=group_size, contrastive=contrastive,
        batch_index=known["batch_index"], query_index=known["query_index"], target_index=known["target_index"],
        positive=positive, labels=labels, boxes=boxes)

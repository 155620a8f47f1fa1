"""DINO's use of the shared contrastive denoising (projects.modeling.denoising): its settings from
``MODEL.DINO``, the checks that run before training, and the split of the decoder's outputs."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from projects.modeling.denoising.builders import build_cdn_queries
from projects.modeling.denoising.groups import (
    CDN_BUDGET_THRESHOLD, DenoisingConfigError, check_denoising_settings,
)
from projects.modeling.denoising.queries import DenoisingQueries, pack_denoising_outputs, split_denoising

PREFIX = "MODEL.DINO"


@dataclass(frozen=True)
class DenoisingSettings:
    """num_groups: the official ``dn_number`` (0 = no denoising); labelbook_size: label-embedding rows - 1;
    num_classes: labels are flipped to a uniform class in [0, num_classes); max_queries: budget on the
    denoising rows of one batch (None: the official behaviour, no budget)."""

    num_groups: int
    label_noise_ratio: float
    box_noise_scale: float
    labelbook_size: int
    num_classes: int
    max_queries: Optional[int] = None

    @classmethod
    def from_config(cls, cfg) -> "DenoisingSettings":
        """Read and check ``MODEL.DINO``'s denoising keys (DenoisingConfigError, one line, before training)."""
        options, num_classes = cfg.MODEL.DINO, cfg.MODEL.DETR.NUM_CLASSES
        labelbook = options.DN_LABELBOOK_SIZE or num_classes
        settings = cls(options.DN_NUMBER, options.DN_LABEL_NOISE_RATIO, options.DN_BOX_NOISE_SCALE, labelbook,
                       num_classes, options.DN_MAX_QUERIES or None)
        settings.check()
        return settings

    def check(self) -> None:
        if self.num_groups < 0:
            raise DenoisingConfigError(f"{PREFIX}.DN_NUMBER must be >= 0 (0 disables denoising), got {self.num_groups}")
        if self.labelbook_size < self.num_classes:
            raise DenoisingConfigError(f"{PREFIX}.DN_LABELBOOK_SIZE ({self.labelbook_size}) must be at least "
                                       f"MODEL.DETR.NUM_CLASSES ({self.num_classes}): every label needs an embedding")
        if self.num_groups == 0:
            return
        check_denoising_settings(num_groups=self.num_groups, label_noise_ratio=self.label_noise_ratio,
                                 box_noise_scale=self.box_noise_scale, max_queries=self.max_queries, prefix=PREFIX)
        fewest = self.fewest_queries()
        if self.max_queries is not None and fewest > self.max_queries:
            raise DenoisingConfigError(
                f"{PREFIX}.DN_NUMBER {self.num_groups} needs at least {fewest} denoising queries per batch, more than "
                f"{PREFIX}.DN_MAX_QUERIES {self.max_queries}: lower DN_NUMBER or raise DN_MAX_QUERIES")

    def fewest_queries(self) -> int:
        """Denoising rows of a batch whose images hold one box each: 2 * 2 * dn_number below the official
        budget threshold (2 * dn_number groups of a positive and a negative row), else 2 * dn_number."""
        doubled = 2 * self.num_groups
        return doubled if doubled >= CDN_BUDGET_THRESHOLD else 2 * doubled


def denoising_queries(targets: List[Dict[str, Tensor]], label_embedding: nn.Embedding, num_queries: int,
                      settings: DenoisingSettings, generator: Optional[torch.Generator] = None) -> DenoisingQueries:
    """The batch's contrastive denoising queries (official ``prepare_for_cdn``; ``generator`` None: the
    global RNG, as the official code draws)."""
    return build_cdn_queries(
        targets, label_embedding, num_queries=num_queries, dn_number=settings.num_groups,
        label_noise_ratio=settings.label_noise_ratio, box_noise_scale=settings.box_noise_scale,
        num_classes=settings.num_classes, max_queries=settings.max_queries, generator=generator,
    )


def split_outputs(logits: Tensor, boxes: Tensor, queries: Optional[DenoisingQueries],
                  with_aux: bool) -> Tuple[Tuple[Tensor, Tensor], Dict]:
    """Per-layer logits [L, B, P + Q, K] and boxes [L, B, P + Q, 4] -> ((matching logits, boxes) [L, B, Q, .],
    the denoising outputs to merge into the outputs dict ({} without denoising queries))."""
    if queries is None:
        return (logits, boxes), {}
    dn_logits, logits = split_denoising(logits, queries.pad_size)
    dn_boxes, boxes = split_denoising(boxes, queries.pad_size)
    return (logits, boxes), pack_denoising_outputs(dn_logits, dn_boxes, queries, with_aux)

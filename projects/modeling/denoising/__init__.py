"""Denoising training of DN-DETR and DINO: the queries, their attention mask, the output split and the losses.

queries    ``DenoisingQueries`` (one batch's dn content, anchors, attention mask and row bookkeeping),
           ``split_denoising``, ``pack_denoising_outputs``
builders   ``build_dn_queries`` (DN-DETR) and ``build_cdn_queries`` (DINO's contrastive groups)
noise      label flips and box jitter (centre/size for DN-DETR, corners for DINO), official draw order
groups     ``cdn_num_groups``, ``denoising_attention_mask``, the settings / budget checks and
           ``DenoisingConfigError``
criterion  ``DenoisingCriterion`` (SetCriterion + dn losses, "noised" (DN-DETR tgt_*) or "contrastive" (DINO *_dn) keys),
           ``denoising_weight_dict``, ``build_denoising_criterion``

All names listed in ``__all__`` are public.
"""
from projects.modeling.denoising.builders import build_cdn_queries, build_dn_queries
from projects.modeling.denoising.criterion import (
    DenoisingCriterion,
    TwoStageDenoisingCriterion,
    build_denoising_criterion,
    denoising_weight_dict,
)
from projects.modeling.denoising.groups import (
    DenoisingConfigError,
    cdn_num_groups,
    check_denoising_settings,
    denoising_attention_mask,
)
from projects.modeling.denoising.queries import (
    DN_OUTPUTS_KEY,
    DN_QUERIES_KEY,
    DenoisingQueries,
    pack_denoising_outputs,
    split_denoising,
)

__all__ = [
    "DN_OUTPUTS_KEY",
    "DN_QUERIES_KEY",
    "DenoisingConfigError",
    "DenoisingCriterion",
    "DenoisingQueries",
    "TwoStageDenoisingCriterion",
    "build_cdn_queries",
    "build_denoising_criterion",
    "build_dn_queries",
    "cdn_num_groups",
    "check_denoising_settings",
    "denoising_attention_mask",
    "denoising_weight_dict",
    "pack_denoising_outputs",
    "split_denoising",
]

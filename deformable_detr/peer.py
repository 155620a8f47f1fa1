"""Deformable DETR's Hugging Face transformers counterpart (``DeformableDetrForObjectDetection``, the
one-stage model without box refinement) for tools/benchmarks/peers.py.

Names only: transformers is imported by projects/benchmark/hf_configs.py when the peer is built.
"""
from typing import List

from projects.benchmark.hf_peer import HFPeer, Rule
from projects.benchmark.hf_weights import DETR_ENCODER_RULES, decoder_norm_rules, query_and_projection_rules

WEIGHT_RULES: List[Rule] = [
    *query_and_projection_rules("input_proj"),
    (r"^transformer\.level_embed$", r"model.level_embed"),
    (r"^transformer\.reference_points\.(.*)$", r"model.reference_points.\1"),
    *DETR_ENCODER_RULES,
    *decoder_norm_rules("norm2", "norm1"),  # the official names: norm2 after self-attention, norm1 after cross
    (r"^transformer\.decoder\.layers\.(\d+)\.cross_attn\.(.*)$", r"model.decoder.layers.\1.encoder_attn.\2"),
    (r"^transformer\.decoder\.(.*)$", r"model.decoder.\1"),
    (r"^(class_embed|bbox_embed)\.(.*)$", r"\1.\2"),
]


def config_kwargs(cfg) -> dict:
    """Levels and sampling points; ``auxiliary_loss`` follows DEEP_SUPERVISION: Deformable DETR
    supervises every decoder layer, as ours does (its outputs do not depend on the flag)."""
    options = cfg.MODEL.DEFORMABLE_DETR
    return dict(num_feature_levels=options.NUM_FEATURE_LEVELS, encoder_n_points=options.ENC_N_POINTS,
                decoder_n_points=options.DEC_N_POINTS, two_stage=False, with_box_refine=False,
                auxiliary_loss=cfg.MODEL.DETR.DEEP_SUPERVISION)


def unsupported(cfg):
    """The variants HF's peer (the one-stage model) does not reproduce."""
    options = cfg.MODEL.DEFORMABLE_DETR
    return [(options.WITH_BOX_REFINE or options.TWO_STAGE,
             "MODEL.DEFORMABLE_DETR.WITH_BOX_REFINE / TWO_STAGE must be False (the one-stage model)")]


PEER = HFPeer(
    meta_architecture="DeformableDETR",
    config_class="DeformableDetrConfig",
    model_class="DeformableDetrForObjectDetection",
    weight_rules=WEIGHT_RULES,
    default_config="configs/deformable_detr/deformable_detr_r50_50ep.yaml",
    config_kwargs=config_kwargs,
    unsupported=unsupported,
    time_training=True,
)

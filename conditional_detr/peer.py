"""Conditional DETR's Hugging Face transformers counterpart (``ConditionalDetrForObjectDetection``)
for tools/benchmarks/peers.py.

Names only: transformers is imported by projects/benchmark/hf_configs.py when the peer is built.
"""
import re
from typing import List

from projects.benchmark.hf_peer import HFPeer, Rule, without_auxiliary_loss
from projects.benchmark.hf_weights import (DETR_ENCODER_RULES, DETR_HEAD_RULES, decoder_norm_rules,
                                           query_and_projection_rules)

# decoder layer: our sa_* / ca_* projections (official names) -> HF's per-attention ones
PROJECTIONS = {
    "sa_qcontent_proj": "self_attn.q_content_proj", "sa_qpos_proj": "self_attn.q_pos_proj",
    "sa_kcontent_proj": "self_attn.k_content_proj", "sa_kpos_proj": "self_attn.k_pos_proj",
    "sa_v_proj": "self_attn.v_proj", "self_attn.out_proj": "self_attn.o_proj",
    "ca_qcontent_proj": "encoder_attn.q_content_proj", "ca_qpos_proj": "encoder_attn.q_pos_proj",
    "ca_kcontent_proj": "encoder_attn.k_content_proj", "ca_kpos_proj": "encoder_attn.k_pos_proj",
    "ca_v_proj": "encoder_attn.v_proj", "ca_qpos_sine_proj": "encoder_attn.q_pos_sine_proj",
    "cross_attn.out_proj": "encoder_attn.o_proj",
}
WEIGHT_RULES: List[Rule] = [
    *query_and_projection_rules("input_projection"),
    *DETR_ENCODER_RULES,
    *[(rf"^transformer\.decoder\.layers\.(\d+)\.{re.escape(ours)}\.(weight|bias)$",
       rf"model.decoder.layers.\1.{theirs}.\2") for ours, theirs in PROJECTIONS.items()],
    *decoder_norm_rules("norm1", "norm2"),
    (r"^transformer\.decoder\.norm\.(.*)$", r"model.decoder.layernorm.\1"),
    (r"^transformer\.decoder\.(query_scale|ref_point_head)\.(.*)$", r"model.decoder.\1.\2"),
    (r"^transformer\.decoder\.(.*)$", r"model.decoder.\1"),
    *DETR_HEAD_RULES,
]

PEER = HFPeer(
    meta_architecture="ConditionalDETR",
    config_class="ConditionalDetrConfig",
    model_class="ConditionalDetrForObjectDetection",
    weight_rules=WEIGHT_RULES,
    default_config="configs/conditional_detr/conditional_detr_r50_50ep.yaml",
    config_kwargs=without_auxiliary_loss,
)

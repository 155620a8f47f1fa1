"""Conditional DETR's Hugging Face transformers counterpart (``ConditionalDetrForObjectDetection``)
for tools/benchmarks/peers.py.

Names only: transformers is imported by projects/benchmark/hf_configs.py when the peer is built.
"""
import re
from typing import List

from projects.benchmark.hf_peer import HFPeer, Rule
from projects.benchmark.hf_weights import DETR_ENCODER_RULES

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
    (r"^input_proj\.(.*)$", r"model.input_projection.\1"),
    (r"^query_embed\.weight$", r"model.query_position_embeddings.weight"),
    *DETR_ENCODER_RULES,
    *[(rf"^transformer\.decoder\.layers\.(\d+)\.{re.escape(ours)}\.(weight|bias)$",
       rf"model.decoder.layers.\1.{theirs}.\2") for ours, theirs in PROJECTIONS.items()],
    (r"^transformer\.decoder\.layers\.(\d+)\.norm1\.(.*)$", r"model.decoder.layers.\1.self_attn_layer_norm.\2"),
    (r"^transformer\.decoder\.layers\.(\d+)\.norm2\.(.*)$", r"model.decoder.layers.\1.encoder_attn_layer_norm.\2"),
    (r"^transformer\.decoder\.layers\.(\d+)\.norm3\.(.*)$", r"model.decoder.layers.\1.final_layer_norm.\2"),
    (r"^transformer\.decoder\.norm\.(.*)$", r"model.decoder.layernorm.\1"),
    (r"^transformer\.decoder\.(query_scale|ref_point_head)\.(.*)$", r"model.decoder.\1.\2"),
    (r"^transformer\.decoder\.(.*)$", r"model.decoder.\1"),
    (r"^class_embed\.(.*)$", r"class_labels_classifier.\1"),
    (r"^bbox_embed\.(.*)$", r"bbox_predictor.\1"),
]


def config_kwargs(cfg) -> dict:
    """``auxiliary_loss`` stays off: with it on, HF's decoder layer-normalises the state it passes to
    the next layer (the official code passes the un-normalised state); off, its outputs equal the
    official model's (and ours)."""
    return {"auxiliary_loss": False}


PEER = HFPeer(
    meta_architecture="ConditionalDETR",
    config_class="ConditionalDetrConfig",
    model_class="ConditionalDetrForObjectDetection",
    weight_rules=WEIGHT_RULES,
    default_config="configs/conditional_detr/conditional_detr_r50_50ep.yaml",
    config_kwargs=config_kwargs,
)

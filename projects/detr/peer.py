"""DETR's Hugging Face transformers counterpart (``DetrForObjectDetection``) for tools/benchmarks/peers.py.

Names only: transformers is imported by projects/benchmark/hf_configs.py when the peer is built.
"""
from typing import List

from projects.benchmark.hf_peer import HFPeer, Rule, without_auxiliary_loss
from projects.benchmark.hf_weights import (DETR_ENCODER_RULES, DETR_HEAD_RULES, decoder_norm_rules,
                                           query_and_projection_rules)

WEIGHT_RULES: List[Rule] = [
    *query_and_projection_rules("input_projection"),
    *DETR_ENCODER_RULES,
    *decoder_norm_rules("norm1", "norm2"),
    (r"^transformer\.decoder\.layers\.(\d+)\.multihead_attn\.(.*)$", r"model.decoder.layers.\1.encoder_attn.\2"),
    (r"^transformer\.decoder\.norm\.(.*)$", r"model.decoder.layernorm.\1"),
    (r"^transformer\.decoder\.(.*)$", r"model.decoder.\1"),
    *DETR_HEAD_RULES,
]

PEER = HFPeer(
    meta_architecture="DETR",
    config_class="DetrConfig",
    model_class="DetrForObjectDetection",
    weight_rules=WEIGHT_RULES,
    default_config="configs/detr/detr_r50_500ep.yaml",
    config_kwargs=without_auxiliary_loss,
)

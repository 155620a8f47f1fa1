"""DETR's Hugging Face transformers counterpart (``DetrForObjectDetection``) for tools/benchmarks/peers.py.

Names only: transformers is imported by projects/benchmark/hf_configs.py when the peer is built.
"""
from typing import List

from projects.benchmark.hf_peer import HFPeer, Rule
from projects.benchmark.hf_weights import DETR_ENCODER_RULES

WEIGHT_RULES: List[Rule] = [
    (r"^input_proj\.(.*)$", r"model.input_projection.\1"),
    (r"^query_embed\.weight$", r"model.query_position_embeddings.weight"),
    *DETR_ENCODER_RULES,
    (r"^transformer\.decoder\.layers\.(\d+)\.norm1\.(.*)$", r"model.decoder.layers.\1.self_attn_layer_norm.\2"),
    (r"^transformer\.decoder\.layers\.(\d+)\.norm2\.(.*)$", r"model.decoder.layers.\1.encoder_attn_layer_norm.\2"),
    (r"^transformer\.decoder\.layers\.(\d+)\.norm3\.(.*)$", r"model.decoder.layers.\1.final_layer_norm.\2"),
    (r"^transformer\.decoder\.layers\.(\d+)\.multihead_attn\.(.*)$", r"model.decoder.layers.\1.encoder_attn.\2"),
    (r"^transformer\.decoder\.norm\.(.*)$", r"model.decoder.layernorm.\1"),
    (r"^transformer\.decoder\.(.*)$", r"model.decoder.\1"),
    (r"^class_embed\.(.*)$", r"class_labels_classifier.\1"),
    (r"^bbox_embed\.(.*)$", r"bbox_predictor.\1"),
]


def config_kwargs(cfg) -> dict:
    """``auxiliary_loss`` stays off: with it on, HF's DETR decoder layer-normalises the state it passes
    to the next layer (the official code passes the un-normalised state); off, its outputs equal the
    official model's (and ours)."""
    return {"auxiliary_loss": False}


PEER = HFPeer(
    meta_architecture="DETR",
    config_class="DetrConfig",
    model_class="DetrForObjectDetection",
    weight_rules=WEIGHT_RULES,
    default_config="configs/detr/detr_r50_500ep.yaml",
    config_kwargs=config_kwargs,
)

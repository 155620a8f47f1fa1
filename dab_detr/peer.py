"""DAB-DETR's Hugging Face transformers counterpart (``DabDetrForObjectDetection``, single-scale) for
tools/benchmarks/peers.py. DN-DAB-DETR (MODEL.DN) has none: even at inference its content queries are
its label embedding's "no object" row (official DN-DETR), where HF's are zeros.

HF's DAB-DETR layers keep names of their own (the encoder's ``self_attn.out_proj`` and bare ``fc1``,
the decoder's ``self_attn.self_attn.output_proj`` and ``mlp.fc1``), so this peer opts out of the
shared FFN / attention-output renames (``layer_rules=()``) and writes every name out. HF keeps the
shared box head twice (``bbox_predictor`` and, tied to it, ``model.decoder.bbox_embed``, the one that
refines the anchors): both get our ``bbox_embed``; its ResNet sits one module deeper
(``model.backbone.conv_encoder.model``).

Names only: transformers is imported by projects/benchmark/hf_configs.py when the peer is built.
"""
import re
from typing import Dict, List

from projects.benchmark.hf_peer import HFPeer, Rule
from projects.benchmark.hf_weights import DETR_ENCODER_RULES

# encoder layer: our FFN names -> HF's (its encoder layer is DETR's, attention output kept as out_proj)
ENCODER_FFN = {"ffn.linear1": "fc1", "ffn.linear2": "fc2", "ffn.activation": "activation_fn"}
# decoder layer: our (official) names -> HF's, grouped by HF's self-attention / cross-attention / FFN blocks
DECODER_LAYER = {
    "sa_qcontent_proj": "self_attn.self_attn_query_content_proj", "sa_qpos_proj": "self_attn.self_attn_query_pos_proj",
    "sa_kcontent_proj": "self_attn.self_attn_key_content_proj", "sa_kpos_proj": "self_attn.self_attn_key_pos_proj",
    "sa_v_proj": "self_attn.self_attn_value_proj", "self_attn.out_proj": "self_attn.self_attn.output_proj",
    "norm1": "self_attn.self_attn_layer_norm",
    "ca_qcontent_proj": "cross_attn.cross_attn_query_content_proj",
    "ca_qpos_proj": "cross_attn.cross_attn_query_pos_proj",
    "ca_kcontent_proj": "cross_attn.cross_attn_key_content_proj",
    "ca_kpos_proj": "cross_attn.cross_attn_key_pos_proj", "ca_v_proj": "cross_attn.cross_attn_value_proj",
    "ca_qpos_sine_proj": "cross_attn.cross_attn_query_pos_sine_proj",
    "cross_attn.out_proj": "cross_attn.cross_attn.output_proj", "norm2": "cross_attn.cross_attn_layer_norm",
    "ffn.linear1": "mlp.fc1", "ffn.linear2": "mlp.fc2", "ffn.activation": "mlp.activation_fn",
    "norm3": "mlp.final_layer_norm",
}


def per_layer_rules(stack: str, names: Dict[str, str]) -> List[Rule]:
    """Rules for the modules of every layer of ``transformer.<stack>`` -> ``model.<stack>``'s."""
    return [(rf"^transformer\.{stack}\.layers\.(\d+)\.{re.escape(ours)}\.(.*)$",
             rf"model.{stack}.layers.\1.{theirs}.\2") for ours, theirs in names.items()]


WEIGHT_RULES: List[Rule] = [
    (r"^input_proj\.(.*)$", r"model.input_projection.\1"),
    (r"^refpoint_embed\.weight$", r"model.query_refpoint_embeddings.weight"),
    *per_layer_rules("encoder", ENCODER_FFN),
    *DETR_ENCODER_RULES,  # norms, attention (kept names) and the encoder's query_scale
    *per_layer_rules("decoder", DECODER_LAYER),
    (r"^transformer\.decoder\.norm\.(.*)$", r"model.decoder.layernorm.\1"),
    (r"^transformer\.decoder\.(query_scale|ref_point_head|ref_anchor_head)\.(.*)$", r"model.decoder.\1.\2"),
    (r"^class_embed\.(.*)$", r"class_embed.\1"),
    (r"^bbox_embed\.(.*)$", r"bbox_predictor.\1"),
]


def config_kwargs(cfg) -> dict:
    """HF's width key (``hidden_size``), the FFN activation and the image-position temperature of
    MODEL.DAB_DETR. ``auxiliary_loss`` only changes HF's loss here (its decoder passes the
    un-normalised state on either way, as the official code does), so it follows DEEP_SUPERVISION."""
    options = cfg.MODEL.DAB_DETR
    temperature = int(options.POSITION_TEMPERATURE)  # a whole number (``unsupported``): HF's field is an int
    return dict(hidden_size=cfg.MODEL.DETR.HIDDEN_DIM, activation_function=options.ACTIVATION,
                temperature_height=temperature, temperature_width=temperature,
                auxiliary_loss=cfg.MODEL.DETR.DEEP_SUPERVISION)


def unsupported(cfg):
    """The settings HF's DAB-DETR cannot reproduce."""
    temperature = cfg.MODEL.DAB_DETR.POSITION_TEMPERATURE
    return [(temperature != int(temperature),
             f"MODEL.DAB_DETR.POSITION_TEMPERATURE must be a whole number (HF's is an int), got {temperature}"),
            (cfg.MODEL.DN.ENABLED, "MODEL.DN.ENABLED must be False (DN-DAB-DETR's content queries come from its "
                                   "label embedding; HF's DAB-DETR has none)")]


# Note: HF's inverse_sigmoid clamps at 1e-5, the official DAB-DETR's (and ours) at 1e-3; the two agree
# unless an anchor coordinate leaves [1e-3, 1 - 1e-3], which the benchmark's atol check would report.
PEER = HFPeer(
    meta_architecture="DABDETR",
    config_class="DabDetrConfig",
    model_class="DabDetrForObjectDetection",
    weight_rules=WEIGHT_RULES,
    layer_rules=(),
    tied=(("bbox_predictor.", "model.decoder.bbox_embed."),),
    backbone="model.backbone.conv_encoder.model.",
    default_config="configs/dab_detr/dab_detr_r50_50ep.yaml",
    config_kwargs=config_kwargs,
    unsupported=unsupported,
)

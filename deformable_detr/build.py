"""Build the deformable transformer from ``cfg.MODEL.DETR`` / ``cfg.MODEL.DEFORMABLE_DETR``."""
from projects.layers.deformable.attention import ATTENTION_IMPLS, build_attention as _build_attention

from .decoder import DeformableDecoder, DeformableDecoderLayer
from .encoder import DeformableEncoder, DeformableEncoderLayer
from .transformer import DeformableTransformer


def build_deformable_transformer(cfg, num_proposals: int) -> DeformableTransformer:
    """The encoder/decoder stack of the configured variant (levels, points, two-stage).

    num_proposals: the two-stage encoder proposals kept as queries; the model's number of queries
    (MODEL.DETR.NUM_OBJECT_QUERIES, read by ``DeformableDETR.from_config``)."""
    detr = cfg.MODEL.DETR
    options = cfg.MODEL.DEFORMABLE_DETR
    return make_deformable_transformer(
        d_model=detr.HIDDEN_DIM, nhead=detr.NHEADS, num_encoder_layers=detr.ENC_LAYERS,
        num_decoder_layers=detr.DEC_LAYERS, dim_feedforward=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT,
        num_levels=options.NUM_FEATURE_LEVELS, enc_n_points=options.ENC_N_POINTS,
        dec_n_points=options.DEC_N_POINTS, two_stage=options.TWO_STAGE,
        num_proposals=num_proposals, attention_impl=options.ATTENTION_IMPL,
    )


def make_deformable_transformer(*, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                                dim_feedforward=1024, dropout=0.1, activation="relu", num_levels=4,
                                enc_n_points=4, dec_n_points=4, two_stage=False, num_proposals=300,
                                attention_impl="auto") -> DeformableTransformer:
    """Keyword construction (official main.py defaults), used by ``build_deformable_transformer`` and tests."""
    encoder_layer = DeformableEncoderLayer(
        build_attention(d_model, num_levels, nhead, enc_n_points, attention_impl), d_model, dim_feedforward,
        dropout, activation,
    )
    decoder_layer = DeformableDecoderLayer(
        build_attention(d_model, num_levels, nhead, dec_n_points, attention_impl), d_model, nhead,
        dim_feedforward, dropout, activation,
    )
    return DeformableTransformer(
        DeformableEncoder(encoder_layer, num_encoder_layers), DeformableDecoder(decoder_layer, num_decoder_layers),
        d_model=d_model, num_levels=num_levels, two_stage=two_stage, num_proposals=num_proposals,
    )


def build_attention(d_model: int, n_levels: int, n_heads: int, n_points: int, impl: str = "auto"):
    """``projects.layers.deformable.attention.build_attention`` naming this method's config key."""
    return _build_attention(d_model, n_levels, n_heads, n_points, impl,
                            config_key="MODEL.DEFORMABLE_DETR.ATTENTION_IMPL")


__all__ = ["ATTENTION_IMPLS", "build_attention", "build_deformable_transformer", "make_deformable_transformer"]

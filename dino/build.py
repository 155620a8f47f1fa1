"""Build DINO's transformer from ``cfg.MODEL.DETR`` / ``cfg.MODEL.DINO``."""
from projects.layers.deformable.attention import build_attention
from projects.layers.deformable.decoder_layer import DeformableDecoderLayer
from projects.layers.deformable.encoder import DeformableEncoder, DeformableEncoderLayer

from .decoder import DINODecoder
from .transformer import DINOTransformer

ATTENTION_KEY = "MODEL.DINO.ATTENTION_IMPL"


def build_dino_transformer(cfg) -> DINOTransformer:
    """The configured encoder/decoder stack (levels, points, queries)."""
    detr, options = cfg.MODEL.DETR, cfg.MODEL.DINO
    return make_dino_transformer(
        d_model=detr.HIDDEN_DIM, nhead=detr.NHEADS, num_encoder_layers=detr.ENC_LAYERS,
        num_decoder_layers=detr.DEC_LAYERS, dim_feedforward=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT,
        num_levels=options.NUM_FEATURE_LEVELS, enc_n_points=options.ENC_N_POINTS, dec_n_points=options.DEC_N_POINTS,
        num_queries=detr.NUM_OBJECT_QUERIES, num_classes=detr.NUM_CLASSES, attention_impl=options.ATTENTION_IMPL,
    )


def make_dino_transformer(*, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                          dim_feedforward=2048, dropout=0.0, activation="relu", num_levels=4, enc_n_points=4,
                          dec_n_points=4, num_queries=900, num_classes=91, attention_impl="auto") -> DINOTransformer:
    """Keyword construction with the official DINO-4scale defaults (config/DINO/DINO_4scale.py)."""
    encoder_layer = DeformableEncoderLayer(
        build_attention(d_model, num_levels, nhead, enc_n_points, attention_impl, ATTENTION_KEY), d_model,
        dim_feedforward, dropout, activation,
    )
    decoder_layer = DeformableDecoderLayer(
        build_attention(d_model, num_levels, nhead, dec_n_points, attention_impl, ATTENTION_KEY), d_model, nhead,
        dim_feedforward, dropout, activation,
    )
    return DINOTransformer(
        DeformableEncoder(encoder_layer, num_encoder_layers), DINODecoder(decoder_layer, num_decoder_layers, d_model),
        d_model=d_model, num_levels=num_levels, num_queries=num_queries, num_classes=num_classes,
    )

"""Hugging Face transformers model configs equivalent to one of our Detectron2 configs.

The HF model gets HF's own ResNet (``use_timm_backbone=False``: no timm, no pretrained download)
shaped like our Detectron2 ResNet, and the transformer sizes of ``cfg.MODEL.DETR``. Settings
that HF cannot express raise a ValueError naming the key, instead of building a model that
computes something else.
"""
import importlib

from projects.benchmark.hf_peer import peer_of

INSTALL_HINT = "pip install -r tools/benchmarks/requirements.txt"
RESNET_BLOCKS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


def import_transformers():
    """The transformers module, or SystemExit with the one-line install hint when it is missing."""
    try:
        return importlib.import_module("transformers")
    except ImportError:
        raise SystemExit(f"Hugging Face transformers is not installed; run: {INSTALL_HINT}") from None


def check_supported(cfg):
    """ValueError naming the first key of ``cfg`` that the HF peer cannot reproduce."""
    peer = peer_of(cfg)
    resnets, detr = cfg.MODEL.RESNETS, cfg.MODEL.DETR
    unsupported = [
        (cfg.MODEL.BACKBONE.NAME != "build_resnet_backbone", "MODEL.BACKBONE.NAME must be build_resnet_backbone"),
        (resnets.NORM != "FrozenBN", "MODEL.RESNETS.NORM must be FrozenBN (HF freezes every BatchNorm)"),
        (resnets.NUM_GROUPS != 1 or resnets.RES5_DILATION != 1 or any(resnets.DEFORM_ON_PER_STAGE),
         "MODEL.RESNETS: grouped, dilated or deformable ResNets have no HF ResNet equivalent"),
        (resnets.WIDTH_PER_GROUP * 4 != resnets.RES2_OUT_CHANNELS and resnets.DEPTH >= 50,
         "MODEL.RESNETS.WIDTH_PER_GROUP must be RES2_OUT_CHANNELS / 4 (HF's bottleneck reduction)"),
        (detr.PRE_NORM, "MODEL.DETR.PRE_NORM: HF's DETR-family layers are post-norm only"),
        (detr.POSITION_EMBEDDING != "sine", "MODEL.DETR.POSITION_EMBEDDING must be sine"),
        *peer.unsupported(cfg),
    ]
    for bad, message in unsupported:
        if bad:
            raise ValueError(f"Cannot compare with Hugging Face: {message}")


def hf_resnet_config(cfg, out_features):
    """HF ResNetConfig with the depth, widths and stride placement of ``cfg.MODEL.RESNETS``."""
    transformers = import_transformers()
    resnets = cfg.MODEL.RESNETS
    depth = resnets.DEPTH
    basic = depth in (18, 34)
    base = 64 if basic else resnets.RES2_OUT_CHANNELS
    return transformers.ResNetConfig(
        embedding_size=resnets.STEM_OUT_CHANNELS, hidden_sizes=[base * 2 ** i for i in range(4)],
        depths=RESNET_BLOCKS[depth], layer_type="basic" if basic else "bottleneck",
        downsample_in_bottleneck=resnets.STRIDE_IN_1X1, out_features=out_features,
    )


def hf_stage_names(in_features):
    """Our ResNet level names (res2..res5) -> HF ResNet stage names (stage1..stage4)."""
    return [f"stage{int(name[-1]) - 1}" for name in in_features]


def transformer_kwargs(cfg):
    """HF config arguments every peer shares, from ``cfg.MODEL.DETR``.

    HF's loss keeps its own matcher costs and loss coefficients (integers in its config): the
    training-step comparison times HF's own loss, and its value is not compared with ours.
    """
    detr = cfg.MODEL.DETR
    return dict(
        use_timm_backbone=False, backbone_config=hf_resnet_config(cfg, hf_stage_names(detr.IN_FEATURES)),
        num_labels=detr.NUM_CLASSES, num_queries=detr.NUM_OBJECT_QUERIES, d_model=detr.HIDDEN_DIM,
        encoder_layers=detr.ENC_LAYERS, decoder_layers=detr.DEC_LAYERS, encoder_attention_heads=detr.NHEADS,
        decoder_attention_heads=detr.NHEADS, encoder_ffn_dim=detr.DIM_FEEDFORWARD,
        decoder_ffn_dim=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT, activation_function="relu",
        position_embedding_type="sine",
    )


def hf_config(cfg):
    """The HF config of the peer of ``cfg``'s model: the shared transformer sizes, then the
    method's own arguments (``HFPeer.config_kwargs``), which replace shared ones of the same name
    (e.g. DAB-DETR's PReLU activation, or its ``hidden_size`` where other HF configs say ``d_model``)."""
    check_supported(cfg)
    transformers = import_transformers()
    peer = peer_of(cfg)
    return getattr(transformers, peer.config_class)(**{**transformer_kwargs(cfg), **peer.config_kwargs(cfg)})


def build_hf_model(cfg):
    """A randomly initialised HF detection model equivalent to ``cfg``'s (CPU, float32)."""
    transformers = import_transformers()
    return getattr(transformers, peer_of(cfg).model_class)(hf_config(cfg))

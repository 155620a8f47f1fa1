"""What the core and the tools know about DAB-DETR (and DN-DETR's DN-DAB models, the same package with
MODEL.DN): registered when the package is imported.

Two methods: "dab_detr" (IDEA-Research/DAB-DETR checkpoints and fixtures) and "dn_detr"
(IDEA-Research/DN-DETR: the same meta-architectures trained with denoising queries).
"""
from projects.checkpoint.official_args import set_official_detr_args, set_official_focal_args
from projects.registry import Method, imported_on_use, register_method

from dab_detr.config import add_dab_detr_config
from dab_detr.convert import DAB_DETR_CONVERTER, DN_DETR_CONVERTER
from dab_detr.peer import PEER

META_ARCHITECTURES = ("DABDETR", "DABDeformableDETR")


def is_deformable(args) -> bool:
    """Official ``--modelname`` dab_deformable_detr / dn_dab_deformable_detr."""
    return "deformable" in args["modelname"]


def official_config(cfg, args, variant):
    """DAB-DETR's keys from the official main.py arguments; the model (single-scale or deformable) is
    ``--modelname``, denoising ``--use_dn`` (DN-DETR's main.py)."""
    set_official_detr_args(cfg, args)
    set_official_focal_args(cfg, args)
    options = cfg.MODEL.DAB_DETR
    if is_deformable(args):
        cfg.MODEL.META_ARCHITECTURE = "DABDeformableDETR"
        options.ACTIVATION = "relu"  # official: build_deforamble_transformer ignores --transformer_activation
        options.NUM_FEATURE_LEVELS = args["num_feature_levels"]
        options.ENC_N_POINTS, options.DEC_N_POINTS = args["enc_n_points"], args["dec_n_points"]
        cfg.MODEL.DETR.NUM_TOPK_TEST = 100  # official deformable PostProcess: hard-coded 100
    else:
        cfg.MODEL.META_ARCHITECTURE = "DABDETR"
        options.ACTIVATION = args["transformer_activation"]
        options.POSITION_TEMPERATURE = args["pe_temperatureH"]
        cfg.MODEL.DETR.NUM_TOPK_TEST = args["num_select"]
    options.RANDOM_REFPOINTS_XY = args["random_refpoints_xy"]
    cfg.MODEL.DN.ENABLED = bool(args.get("use_dn", False))
    if cfg.MODEL.DN.ENABLED:
        cfg.MODEL.DN.NUM_GROUPS = args["scalar"]
        cfg.MODEL.DN.LABEL_NOISE_RATIO = args["label_noise_scale"]
        cfg.MODEL.DN.BOX_NOISE_SCALE = args["box_noise_scale"]


# the recorders of tools/visualize_attention.py, imported on use (their module imports matplotlib)
RECORDERS = {"DABDETR": imported_on_use("dab_detr.attention_figures", "DABDETRRecorder"),
             "DABDeformableDETR": imported_on_use("dab_detr.attention_figures", "DABDeformableDETRRecorder")}

METHOD = register_method(Method(
    name="dab_detr",
    add_config=add_dab_detr_config,
    meta_architectures=META_ARCHITECTURES,
    # the anchors with the width/height modulation head (single-scale) or the learned content (deformable);
    # longer than Conditional DETR's and Deformable DETR's signatures, which these checkpoints also match
    checkpoint_signatures={"DABDETR": ("refpoint_embed", "ref_anchor_head", "ca_qpos_sine_proj"),
                           "DABDeformableDETR": ("refpoint_embed", "tgt_embed", "sampling_offsets")},
    converter=DAB_DETR_CONVERTER,
    attention_recorders=RECORDERS,
    official_config=official_config,
    benchmark_peer=PEER,
))

DN_METHOD = register_method(Method(
    name="dn_detr",
    package="dab_detr",
    add_config=add_dab_detr_config,
    meta_architectures=META_ARCHITECTURES,
    converter=DN_DETR_CONVERTER,
    attention_recorders=RECORDERS,
    official_config=official_config,
    benchmark_peer=None,  # DN-DAB-DETR's content queries have no HF counterpart (dab_detr/peer.py)
))

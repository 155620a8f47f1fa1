"""What the core and the tools know about DINO: registered when the package is imported."""
from projects.checkpoint.official_args import set_official_detr_args, set_official_focal_args
from projects.registry import Method, imported_on_use, register_method

from dino.config import add_dino_config
from dino.convert import DINO_CONVERTER, SIGNATURE_KEYS


def official_config(cfg, args, variant):
    """DINO's keys from the official main.py arguments (IDEA-Research/DINO, config/DINO/DINO_<n>scale.py
    merged with the command line); the variant (4-scale, 5-scale) is in the arguments."""
    set_official_detr_args(cfg, args)
    set_official_focal_args(cfg, args)
    cfg.MODEL.META_ARCHITECTURE = "DINO"
    cfg.MODEL.DETR.IN_FEATURES = [f"res{index + 2}" for index in args["return_interm_indices"]]
    cfg.MODEL.DETR.NUM_TOPK_TEST = args["num_select"]
    options = cfg.MODEL.DINO
    options.NUM_FEATURE_LEVELS = args["num_feature_levels"]
    options.ENC_N_POINTS, options.DEC_N_POINTS = args["enc_n_points"], args["dec_n_points"]
    options.POSITION_TEMPERATURE = args["pe_temperatureH"]
    options.DN_NUMBER = args["dn_number"] if args["use_dn"] else 0
    options.DN_LABEL_NOISE_RATIO, options.DN_BOX_NOISE_SCALE = args["dn_label_noise_ratio"], args["dn_box_noise_scale"]
    options.DN_LABELBOOK_SIZE = args["dn_labelbook_size"]
    options.INTERM_LOSS_WEIGHT = args["interm_loss_coef"]


# the recorder of tools/visualize_attention.py, imported on use (its module imports matplotlib)
RECORDER = imported_on_use("dino.attention_figures", "DINORecorder")

METHOD = register_method(Method(
    name="dino",
    add_config=add_dino_config,
    meta_architectures=("DINO",),
    # longer than Deformable DETR's ("sampling_offsets",), and a DAB-Deformable-DETR has none of the
    # transformer-level proposal heads: a DINO checkpoint is named as one
    checkpoint_signatures={"DINO": ("sampling_offsets", *SIGNATURE_KEYS)},
    converter=DINO_CONVERTER,
    attention_recorders={"DINO": RECORDER},
    official_config=official_config,
))

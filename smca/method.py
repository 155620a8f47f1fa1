"""What the core and the tools know about SMCA: registered when the package is imported."""
from projects.checkpoint.official_args import set_official_detr_args, set_official_focal_args
from projects.registry import Method, imported_on_use, register_method

from smca.config import add_smca_config
from smca.convert import SMCA_CONVERTER

# official --dynamic_scale -> MODEL.SMCA.SCALE_MODE (paper Table 2)
OFFICIAL_SCALE_MODES = {"type1": "fixed", "type2": "single", "type3": "independent"}


def official_config(cfg, args, variant):
    """Single-scale SMCA's keys from the official main.py arguments (gaopengcuhk/SMCA-DETR, top-level
    ``models/``); the variant (scale mode) is the ``--dynamic_scale`` argument."""
    set_official_detr_args(cfg, args)
    set_official_focal_args(cfg, args)
    cfg.MODEL.META_ARCHITECTURE = "SMCA"
    # official build(): a focal head of num_classes + 1 columns (DETR's no-object column, never positive)
    cfg.MODEL.DETR.NUM_CLASSES = args["num_classes"] + 1
    cfg.MODEL.DETR.NUM_TOPK_TEST = args["num_queries"]  # official PostProcess: top num_queries pairs
    cfg.MODEL.SMCA.SCALE_MODE = OFFICIAL_SCALE_MODES[args["dynamic_scale"]]
    cfg.MODEL.SMCA.SMOOTH = float(args["smooth"])


# the recorder of tools/visualize_attention.py, imported on use (its module imports matplotlib)
RECORDER = imported_on_use("smca.attention_figures", "SMCARecorder")

METHOD = register_method(Method(
    name="smca",
    add_config=add_smca_config,
    meta_architectures=("SMCA", "SMCAMultiScale"),
    checkpoint_signatures={"SMCA": ("center_head",), "SMCAMultiScale": ("center_head", "scale_selection")},
    converter=SMCA_CONVERTER,
    attention_recorders={"SMCA": RECORDER, "SMCAMultiScale": RECORDER},
    official_config=official_config,
    tiny_overrides={"SMCAMultiScale": ("MODEL.SMCA.ENCODER_BLOCKS", "['multi']")},  # one block per encoder layer
))

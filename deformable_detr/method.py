"""What the core and the tools know about Deformable DETR: registered when the package is imported."""
from projects.checkpoint.official_args import set_official_detr_args, set_official_focal_args
from projects.registry import Method, imported_on_use, register_method

from deformable_detr.config import add_deformable_detr_config
from deformable_detr.convert import DEFORMABLE_DETR_CONVERTER
from deformable_detr.peer import PEER


def official_config(cfg, args, variant):
    """Deformable DETR's keys from the official main.py arguments (fundamentalvision/Deformable-DETR);
    the variant (single-scale, multi-scale, box refinement, two-stage) is in the arguments."""
    set_official_detr_args(cfg, args)
    set_official_focal_args(cfg, args)
    cfg.MODEL.META_ARCHITECTURE = "DeformableDETR"
    options = cfg.MODEL.DEFORMABLE_DETR
    options.NUM_FEATURE_LEVELS = args["num_feature_levels"]
    options.ENC_N_POINTS, options.DEC_N_POINTS = args["enc_n_points"], args["dec_n_points"]
    options.WITH_BOX_REFINE, options.TWO_STAGE = args["with_box_refine"], args["two_stage"]


# the recorder of tools/visualize_attention.py, imported on use (its module imports matplotlib)
RECORDER = imported_on_use("deformable_detr.attention_figures", "DeformableDETRRecorder")

METHOD = register_method(Method(
    name="deformable_detr",
    add_config=add_deformable_detr_config,
    meta_architectures=("DeformableDETR",),
    checkpoint_signatures={"DeformableDETR": ("sampling_offsets",)},
    converter=DEFORMABLE_DETR_CONVERTER,
    attention_recorders={"DeformableDETR": RECORDER},
    official_config=official_config,
    benchmark_peer=PEER,
))

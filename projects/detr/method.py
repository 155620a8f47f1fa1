"""What the core and the tools know about the DETR baseline: registered when the package is imported."""
from projects.checkpoint.official_args import set_official_detr_args
from projects.config import add_detr_config
from projects.detr.convert import DETR_CONVERTER
from projects.detr.peer import PEER
from projects.registry import Method, imported_on_use, register_method


def official_config(cfg, args, variant):
    """DETR's keys from the official main.py arguments (facebookresearch/detr; no variants)."""
    set_official_detr_args(cfg, args)
    cfg.MODEL.META_ARCHITECTURE = "DETR"
    cfg.MODEL.DETR.CLASS_LOSS = "softmax"
    cfg.MODEL.DETR.NO_OBJECT_WEIGHT = args["eos_coef"]


# the recorder of tools/visualize_attention.py, imported on use (its module imports matplotlib)
RECORDER = imported_on_use("projects.detr.attention_figures", "DETRRecorder")

METHOD = register_method(Method(
    name="detr",
    package="projects.detr",
    add_config=add_detr_config,
    meta_architectures=("DETR",),
    checkpoint_signatures={"DETR": ("multihead_attn.in_proj_weight",)},
    converter=DETR_CONVERTER,
    attention_recorders={"DETR": RECORDER},
    official_config=official_config,
    benchmark_peer=PEER,
))

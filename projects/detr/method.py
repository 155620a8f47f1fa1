"""What the core and the tools know about the DETR baseline: registered when the package is imported."""
from projects.checkpoint.official_args import set_official_detr_args
from projects.config import add_detr_config
from projects.detr.convert import DETR_CONVERTER
from projects.detr.peer import PEER
from projects.registry import Method, register_method


def official_config(cfg, args, variant):
    """DETR's keys from the official main.py arguments (facebookresearch/detr; no variants)."""
    set_official_detr_args(cfg, args)
    cfg.MODEL.META_ARCHITECTURE = "DETR"
    cfg.MODEL.DETR.CLASS_LOSS = "softmax"
    cfg.MODEL.DETR.NO_OBJECT_WEIGHT = args["eos_coef"]


def attention_recorder(pixels=()):
    """The recorder of tools/visualize_attention.py, imported on use (it imports matplotlib)."""
    from projects.detr.attention_figures import DETRRecorder

    return DETRRecorder(pixels)


METHOD = register_method(Method(
    name="detr",
    package="projects.detr",
    add_config=add_detr_config,
    meta_architectures=("DETR",),
    checkpoint_signatures={"DETR": ("multihead_attn.in_proj_weight",)},
    converter=DETR_CONVERTER,
    attention_recorders={"DETR": attention_recorder},
    official_config=official_config,
    benchmark_peer=PEER,
))

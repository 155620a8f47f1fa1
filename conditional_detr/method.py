"""What the core and the tools know about Conditional DETR: registered when the package is imported."""
from projects.checkpoint.official_args import set_official_detr_args, set_official_focal_args
from projects.registry import Method, imported_on_use, register_method

from conditional_detr.config import add_conditional_detr_config
from conditional_detr.convert import CONDITIONAL_DETR_CONVERTER
from conditional_detr.peer import PEER


def official_config(cfg, args, variant):
    """Conditional DETR's keys from the official main.py arguments (Atten4Vis/ConditionalDETR)."""
    set_official_detr_args(cfg, args)
    set_official_focal_args(cfg, args)
    cfg.MODEL.META_ARCHITECTURE = "ConditionalDETR"


# the recorder of tools/visualize_attention.py, imported on use (its module imports matplotlib)
RECORDER = imported_on_use("conditional_detr.attention_figures", "ConditionalDETRRecorder")

METHOD = register_method(Method(
    name="conditional_detr",
    add_config=add_conditional_detr_config,
    meta_architectures=("ConditionalDETR",),
    checkpoint_signatures={"ConditionalDETR": ("ca_qpos_sine_proj",)},
    converter=CONDITIONAL_DETR_CONVERTER,
    attention_recorders={"ConditionalDETR": RECORDER},
    official_config=official_config,
    benchmark_peer=PEER,
))

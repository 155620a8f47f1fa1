"""What the core and the tools know about the DETR baseline: registered when the package is imported."""
from projects.config import add_detr_config
from projects.detr.convert import DETR_CONVERTER
from projects.registry import Method, register_method

METHOD = register_method(Method(
    name="detr",
    package="projects.detr",
    add_config=add_detr_config,
    meta_architectures=("DETR",),
    checkpoint_signatures={"DETR": ("multihead_attn.in_proj_weight",)},
    converter=DETR_CONVERTER,
))

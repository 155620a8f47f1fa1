"""What the core and the tools know about Conditional DETR: registered when the package is imported."""
from projects.registry import Method, register_method

from conditional_detr.config import add_conditional_detr_config
from conditional_detr.convert import CONDITIONAL_DETR_CONVERTER

METHOD = register_method(Method(
    name="conditional_detr",
    add_config=add_conditional_detr_config,
    meta_architectures=("ConditionalDETR",),
    checkpoint_signatures={"ConditionalDETR": ("ca_qpos_sine_proj",)},
    converter=CONDITIONAL_DETR_CONVERTER,
))

"""What the core and the tools know about Deformable DETR: registered when the package is imported."""
from projects.registry import Method, register_method

from deformable_detr.config import add_deformable_detr_config
from deformable_detr.convert import DEFORMABLE_DETR_CONVERTER

METHOD = register_method(Method(
    name="deformable_detr",
    add_config=add_deformable_detr_config,
    meta_architectures=("DeformableDETR",),
    checkpoint_signatures={"DeformableDETR": ("sampling_offsets",)},
    converter=DEFORMABLE_DETR_CONVERTER,
))

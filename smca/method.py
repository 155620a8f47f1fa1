"""What the core and the tools know about SMCA: registered when the package is imported."""
from projects.registry import Method, register_method

from smca.config import add_smca_config
from smca.convert import SMCA_CONVERTER

METHOD = register_method(Method(
    name="smca",
    add_config=add_smca_config,
    meta_architectures=("SMCA", "SMCAMultiScale"),
    checkpoint_signatures={"SMCA": ("center_head",), "SMCAMultiScale": ("center_head", "scale_selection")},
    converter=SMCA_CONVERTER,
))

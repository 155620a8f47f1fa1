"""Figures of each method's mechanism from the model's own forward pass (forward hooks; see
``hooks.py``): one recorder per meta-architecture, chosen by the model's class name (this core does
not import the method packages)."""
from ..inputs import ToolInputError
from .conditional_attention import ConditionalDETRRecorder
from .deformable_attention import DeformableDETRRecorder
from .detections import Detection, top_detections
from .detr_attention import DETRRecorder
from .geometry import ImageView
from .smca_attention import SMCARecorder

RECORDERS = {
    "DETR": DETRRecorder,
    "ConditionalDETR": ConditionalDETRRecorder,
    "DeformableDETR": DeformableDETRRecorder,
    "SMCA": SMCARecorder,
    "SMCAMultiScale": SMCARecorder,
}


def build_recorder(model, pixels=()):
    """The attention recorder for ``model``'s meta-architecture."""
    name = type(model).__name__
    if name not in RECORDERS:
        raise ToolInputError(f"no attention figures for {name} (known: {', '.join(RECORDERS)})")
    return RECORDERS[name](pixels)


__all__ = ["Detection", "ImageView", "RECORDERS", "build_recorder", "top_detections"]

"""Figures of each method's mechanism from the model's own forward pass (forward hooks; see
``hooks.py``): one recorder per meta-architecture, chosen by the model's class name (this core does
not import the method packages)."""
from projects.visualization.inputs import ToolInputError
from projects.visualization.attention.conditional_attention import ConditionalDETRRecorder
from projects.visualization.attention.deformable_attention import DeformableDETRRecorder
from projects.visualization.attention.detections import Detection, top_detections
from projects.visualization.attention.detr_attention import DETRRecorder
from projects.visualization.attention.geometry import ImageView
from projects.visualization.attention.smca_attention import SMCARecorder

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

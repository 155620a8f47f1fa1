"""Figures of each method's mechanism from the model's own forward pass (forward hooks; see
``hooks.py``). This core holds what every recorder shares (``AttentionRecorder``, hooks, panels,
geometry, detections); each method package registers its own recorder per meta-architecture
(``Method.attention_recorders``, projects/registry.py), chosen here by the model's class name.

Public: ``build_recorder``, ``attention_recorders``, ``AttentionRecorder``, ``Detection``,
``ImageView``, ``top_detections``.
"""
from typing import Callable, Dict

from projects.registry import registered_methods
from projects.visualization.attention.detections import Detection, top_detections
from projects.visualization.attention.geometry import ImageView
from projects.visualization.attention.recorder import AttentionRecorder
from projects.visualization.inputs import ToolInputError


def attention_recorders() -> Dict[str, Callable]:
    """meta-architecture -> recorder factory (``factory(pixels)`` -> AttentionRecorder) of every registered method."""
    return {architecture: factory for method in registered_methods().values()
            for architecture, factory in method.attention_recorders.items()}


def build_recorder(model, pixels=()) -> AttentionRecorder:
    """The attention recorder of ``model``'s meta-architecture; ``pixels``: (x, y) whose encoder attention to record."""
    name = type(model).__name__
    recorders = attention_recorders()
    if name not in recorders:
        raise ToolInputError(f"no attention figures for {name} (registered: {', '.join(sorted(recorders))})")
    return recorders[name](pixels)


__all__ = ["AttentionRecorder", "Detection", "ImageView", "attention_recorders", "build_recorder", "top_detections"]

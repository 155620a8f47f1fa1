"""Base of the per-method attention recorders: hooks for one forward pass, then figures."""
import contextlib
from typing import List, Sequence, Tuple

from projects.visualization.attention.hooks import HookSet, recording_outputs


class AttentionRecorder:
    """Records, during one forward pass of a batch of one image, what a method's figures need.

    Subclasses implement ``register(model)`` (their hooks, storing into ``self.records``) and
    ``figures(view, detections, metadata)`` -> [(name, matplotlib figure)]. Every recorder also has
    ``outputs`` (what ``predict`` returned) and ``input_hw`` (the resized input size).

    pixels: (x, y) original-image pixels whose encoder attention is wanted (methods that show it).
    """

    def __init__(self, pixels: Sequence[Tuple[float, float]] = ()):
        self.pixels = list(pixels)
        self.hooks = HookSet()
        self.records = {}
        self.outputs = None
        self.input_hw = None

    @contextlib.contextmanager
    def recording(self, model):
        """Hooks attached to ``model`` for the duration of the block."""
        self.hooks.before(model.backbone, self._store_input_size)
        self.register(model)
        try:
            with recording_outputs(model, self._store_outputs):
                yield self
        finally:
            self.hooks.remove()

    def _store_input_size(self, module, args):
        self.input_hw = tuple(args[0].shape[-2:])

    def _store_outputs(self, outputs, image_sizes):
        self.outputs = outputs

    def register(self, model) -> None:
        raise NotImplementedError

    def figures(self, view, detections, metadata) -> List[tuple]:
        raise NotImplementedError


def detection_title(detection, metadata) -> str:
    names = metadata.get("thing_classes", None)
    label = names[detection.label] if names else str(detection.label)
    return f"query {detection.query}: {label} {detection.score:.2f}"

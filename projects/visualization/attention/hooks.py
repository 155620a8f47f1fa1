"""Hooks that read a model's intermediate tensors during its own forward pass (nothing recomputed
here except where noted), and remove themselves afterwards."""
import contextlib
from typing import Callable, List

from torch import nn
from torch.utils.hooks import RemovableHandle


class HookSet:
    """Hooks registered on modules of one model; ``remove`` detaches them all."""

    def __init__(self):
        self.handles: List[RemovableHandle] = []

    def after(self, module: nn.Module, fn: Callable) -> None:
        """fn(module, args, output) after ``module.forward`` (args: the positional inputs)."""
        self.handles.append(module.register_forward_hook(fn))

    def before(self, module: nn.Module, fn: Callable, with_kwargs: bool = False) -> None:
        """fn(module, args) (or fn(module, args, kwargs)) before ``module.forward``."""
        self.handles.append(module.register_forward_pre_hook(fn, with_kwargs=with_kwargs))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def record_multihead_weights(hooks: HookSet, attention: nn.MultiheadAttention, store: Callable) -> None:
    """Make ``attention`` (an nn.MultiheadAttention) also return its per-head weights and pass them,
    [B, H, Q, S] (softmax over S, after the masks and additive ``attn_mask``), to ``store``.

    The model calls it with ``need_weights=False``; a pre-hook asks for the weights instead, so the
    module's own forward computes them (PyTorch then takes its non-fused path: same maths, the
    output may differ from the fused kernel in the last float bits).
    """

    def ask_for_weights(module, args, kwargs):
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

    hooks.before(attention, ask_for_weights, with_kwargs=True)
    hooks.after(attention, lambda module, args, output: store(output[1].detach()))


@contextlib.contextmanager
def recording_outputs(model: nn.Module, store: Callable):
    """While active, ``store(outputs, image_sizes)`` receives what the meta-architecture's
    ``predict`` returned (pred_logits, pred_boxes, ...) as it enters ``inference``. The bound method
    is wrapped on this instance only and restored on exit."""
    original = model.inference

    def inference(outputs, image_sizes):
        store(outputs, image_sizes)
        return original(outputs, image_sizes)

    model.inference = inference
    try:
        yield
    finally:
        del model.inference

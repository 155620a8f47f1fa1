"""Full precision islands inside mixed-precision (autocast) training.

Under ``torch.autocast`` the model's predictions come out in float16/bfloat16. The Hungarian
matcher and the set losses must not see those: half-precision rounding can change the matching
and the box/GIoU losses lose most of their digits. ``full_precision`` turns autocast off for a
block and ``float32_tree`` lifts the half-precision tensors of a prediction structure to float32.
Tensors already in float32 (or float64, as in the equivalence tests) are passed through as they are.
"""
import contextlib

import torch

REDUCED_FLOATS = (torch.float16, torch.bfloat16)


def float32_tree(obj):
    """``obj`` (tensors in nested dicts/lists/tuples) with every float16/bfloat16 tensor cast to float32."""
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.dtype in REDUCED_FLOATS else obj
    if isinstance(obj, dict):
        return {key: float32_tree(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(float32_tree(value) for value in obj)
    return obj


@contextlib.contextmanager
def full_precision(device_type: str):
    """Autocast off for ``device_type`` ("cpu", "cuda") inside the block (a no-op outside autocast)."""
    if not torch.is_autocast_enabled(device_type):
        yield
        return
    with torch.autocast(device_type=device_type, enabled=False):
        yield

"""Loads the compiled library ``ops._C`` if it was built; the package works without it.

Loading it registers the operators ``torch.ops.detr_family.ms_deform_attn`` and
``torch.ops.detr_family.ms_deform_attn_backward`` (CPU, CUDA when built, Autograd); their fake
kernels are registered from ``ops._fake`` right after.
"""
import logging
from typing import Optional

import torch  # noqa: F401  (loads libc10/libtorch, which ops._C links against without an rpath)

__all__ = ["compiled_module", "kernel_available", "unavailable_reason"]

logger = logging.getLogger(__name__)

try:
    from ops import _C as _compiled
    _IMPORT_ERROR: Optional[BaseException] = None
except (ImportError, OSError) as error:  # not built, or built against another torch
    _compiled = None
    _IMPORT_ERROR = error

if _compiled is not None:
    from ops import _fake  # noqa: F401  (registers the fake kernels of the operators)

# Read once here, so that kernel_available is plain Python that torch.compile traces through.
_HAS_CUDA_KERNEL = _compiled is not None and bool(_compiled.has_cuda_kernel())


def compiled_module():
    """The ``ops._C`` module, or None when it could not be imported."""
    return _compiled


def kernel_available(device_type: str) -> bool:
    """Whether ``ops._C`` has a multi-scale deformable attention kernel for ``device_type``
    ("cpu" or "cuda"). When False, ``ms_deform_attn`` runs the PyTorch reference instead."""
    if _compiled is None:
        return False
    if device_type == "cpu":
        return True
    if device_type == "cuda":
        return _HAS_CUDA_KERNEL
    return False


def unavailable_reason(device_type: str) -> str:
    """Why there is no kernel for ``device_type`` (for the fallback log line)."""
    if _compiled is None:
        return f"ops._C could not be imported ({type(_IMPORT_ERROR).__name__}: {_IMPORT_ERROR})"
    if device_type == "cuda":
        return "ops._C was built without the CUDA kernel (no CUDA toolkit/GPU at build time)"
    return f"ops._C has no kernel for device type '{device_type}'"

"""Multi-scale deformable attention (Deformable DETR): one entry point over a compiled CPU/CUDA
kernel (``ops._C``, built by the root setup.py) and a pure-PyTorch reference.

Importing this package never fails: without ``ops._C`` (or without a kernel for a device),
``ms_deform_attn`` runs the reference and logs that once.
"""
from ops._extension import kernel_available
from ops.function import ms_deform_attn
from ops.modules import MSDeformAttn, set_reference_mode
from ops.reference import ms_deform_attn_reference

__all__ = ["MSDeformAttn", "kernel_available", "ms_deform_attn", "ms_deform_attn_reference", "set_reference_mode"]

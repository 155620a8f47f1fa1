"""The original DETR baseline (registered as ``DETR`` in META_ARCH_REGISTRY on import)."""
from .detr import DETR
from .transformer import Transformer

__all__ = ["DETR", "Transformer"]

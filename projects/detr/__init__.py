"""The original DETR baseline (registered as ``DETR`` in META_ARCH_REGISTRY on import)."""
from . import convert  # noqa: F401  (registers the official-checkpoint converter)
from .detr import DETR
from .transformer import Transformer, build_detr_transformer, make_detr_transformer

__all__ = ["DETR", "Transformer", "build_detr_transformer", "make_detr_transformer"]

"""The original DETR baseline (registered as ``DETR`` in META_ARCH_REGISTRY on import)."""
from projects.detr import convert  # noqa: F401  (registers the official-checkpoint converter)
from projects.detr.detr import DETR
from projects.detr.transformer import Transformer, build_detr_transformer, make_detr_transformer
from projects.detr.method import METHOD  # registers the method (projects.registry)

__all__ = ["METHOD", "DETR", "Transformer", "build_detr_transformer", "make_detr_transformer"]

"""Moved to ``projects.layers.deformable.heads`` (shared with DAB-Deformable-DETR); re-exported here."""
from projects.layers.deformable.heads import build_heads  # noqa: F401

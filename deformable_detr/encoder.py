"""Moved to ``projects.layers.deformable.encoder`` (shared with the other deformable methods); re-exported here."""
from projects.layers.deformable.encoder import DeformableEncoder, DeformableEncoderLayer  # noqa: F401

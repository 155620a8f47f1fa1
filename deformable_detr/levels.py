"""Moved to ``projects.layers.deformable.levels`` (shared with the other deformable methods); re-exported here."""
from projects.layers.deformable.levels import (  # noqa: F401
    FlatLevels, encoder_reference_points, flatten_levels, level_sizes, reference_points_per_level, sizes_tensor,
)

"""From the model's coordinates (normalised boxes, feature cells, per-level sampling locations) to
pixels of the original image."""
import math
from typing import Tuple

import numpy as np


def level_stride(input_size: int, cells: int) -> int:
    """The power-of-two stride of a level of ``cells`` cells over an input side of ``input_size`` pixels
    (a level has ceil(input / stride) cells, so the plain ratio can be slightly below the stride)."""
    return 2 ** round(math.log2(input_size / cells))


class ImageView:
    """The original image (RGB uint8 [H0, W0, 3]) and the model input it was resized to ([H1, W1])."""

    def __init__(self, rgb: np.ndarray, input_hw: Tuple[int, int]):
        self.rgb = rgb
        self.height, self.width = rgb.shape[:2]
        self.input_height, self.input_width = input_hw
        # one input pixel in original pixels, along x and y
        self.scale_x = self.width / self.input_width
        self.scale_y = self.height / self.input_height

    def box(self, cxcywh) -> Tuple[float, float, float, float]:
        """Normalised (cx, cy, w, h) of the unpadded input -> (x0, y0, x1, y1) original pixels."""
        cx, cy, w, h = (float(v) for v in cxcywh)
        return ((cx - w / 2) * self.width, (cy - h / 2) * self.height,
                (cx + w / 2) * self.width, (cy + h / 2) * self.height)

    def point(self, xy) -> Tuple[float, float]:
        """A point normalised to the unpadded input -> original pixels."""
        return float(xy[0]) * self.width, float(xy[1]) * self.height

    def strides(self, level_hw: Tuple[int, int]) -> Tuple[int, int]:
        """(stride_y, stride_x) of a level of [H_l, W_l] cells over the input."""
        return level_stride(self.input_height, level_hw[0]), level_stride(self.input_width, level_hw[1])

    def level_points(self, xy: np.ndarray, level_hw: Tuple[int, int]) -> np.ndarray:
        """[..., 2] (x, y) normalised over a level's whole (padded) map -> original pixels [..., 2]."""
        stride_y, stride_x = self.strides(level_hw)
        span = np.array([level_hw[1] * stride_x * self.scale_x, level_hw[0] * stride_y * self.scale_y])
        return np.asarray(xy) * span

    def map_extent(self, level_hw: Tuple[int, int], cell_offset: float = 0.0, stride=None):
        """imshow extent (left, right, bottom, top) of a [H_l, W_l] map in original pixels.

        Cell (i, j) covers input pixels [j s, (j + 1) s) by default; ``cell_offset`` -0.5 centres
        it on pixel j s instead (SMCA's prior places cell j at j * s). ``stride``: (s_y, s_x) if known.
        """
        stride_y, stride_x = stride or self.strides(level_hw)
        left = cell_offset * stride_x * self.scale_x
        top = cell_offset * stride_y * self.scale_y
        return (left, left + level_hw[1] * stride_x * self.scale_x,
                top + level_hw[0] * stride_y * self.scale_y, top)

    def cell_of(self, x: float, y: float, level_hw: Tuple[int, int]) -> Tuple[int, int]:
        """(row, column) of the level cell containing original pixel (x, y)."""
        stride_y, stride_x = self.strides(level_hw)
        row = int(y / self.scale_y // stride_y)
        column = int(x / self.scale_x // stride_x)
        return min(max(row, 0), level_hw[0] - 1), min(max(column, 0), level_hw[1] - 1)

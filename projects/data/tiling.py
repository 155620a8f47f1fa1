"""Cutting a large annotated image into overlapping square tiles, and the rule for boxes a tile border cuts.

Tiles are ``size`` x ``size`` pixels with ``overlap`` pixels shared by neighbours (stride size - overlap);
the last row/column of tiles is moved back to end at the image's edge, so every tile is whole (an image
smaller than a tile is one tile of its own size). A box cut by a tile border is kept, clipped to the tile,
when at least ``min_visible`` (default half) of its area lies inside the tile, and dropped from that tile
otherwise: with the overlap, a crown cut in half by one tile is (nearly) whole in its neighbour.
"""
from typing import List, NamedTuple, Sequence, Tuple

from projects.data.voc_xml import VocBox, clip_box

MIN_VISIBLE = 0.5


class Tile(NamedTuple):
    """A tile's window in the image (x0, y0 its top-left corner) and its boxes in tile pixels."""
    x0: int
    y0: int
    width: int
    height: int
    boxes: List[VocBox]
    cut: int  # boxes dropped at this tile's border (less than MIN_VISIBLE of them inside)


def tile_starts(length: int, size: int, overlap: int) -> List[int]:
    """Start offsets along one axis: 0, stride, 2 stride, ... and a last tile ending at ``length``."""
    if not 0 <= overlap < size:
        raise ValueError(f"tile overlap must be in [0, tile size {size}), got {overlap}")
    if length <= size:
        return [0]
    starts = list(range(0, length - size, size - overlap))
    return starts + [length - size]


def boxes_in_window(boxes: Sequence[VocBox], window: Tuple[int, int, int, int],
                    min_visible: float = MIN_VISIBLE) -> Tuple[List[VocBox], int]:
    """Boxes that keep at least ``min_visible`` of their area inside ``window`` = (x0, y0, w, h), clipped and
    shifted into window pixels; and how many boxes that touch the window were dropped by that rule."""
    x0, y0, width, height = window
    kept, cut = [], 0
    for box in boxes:
        shifted = (box.x0 - x0, box.y0 - y0, box.x1 - x0, box.y1 - y0)
        inside = clip_box(shifted, width, height)
        if inside is None:
            continue
        area = (box.x1 - box.x0) * (box.y1 - box.y0)
        if (inside[2] - inside[0]) * (inside[3] - inside[1]) >= min_visible * area:
            kept.append(VocBox(*inside, label=box.label))
        else:
            cut += 1
    return kept, cut


def tile_image(width: int, height: int, boxes: Sequence[VocBox], size: int, overlap: int,
               min_visible: float = MIN_VISIBLE) -> List[Tile]:
    """Every tile of a ``width`` x ``height`` image, row by row, with its boxes."""
    tiles = []
    for y0 in tile_starts(height, size, overlap):
        for x0 in tile_starts(width, size, overlap):
            window = (x0, y0, min(size, width), min(size, height))
            kept, cut = boxes_in_window(boxes, window, min_visible)
            tiles.append(Tile(x0, y0, window[2], window[3], kept, cut))
    return tiles

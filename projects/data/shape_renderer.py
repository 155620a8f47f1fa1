"""Draw one synthetic detection image: textured background plus a few coloured shapes.

Pure numpy + Pillow, driven only by the ``numpy.random.Generator`` it is given, so the same
generator state always gives the same pixels and boxes. Boxes are taken from each shape's own
rendered mask, so they are tight (COCO pixel-edge convention: a shape covering pixel columns
3..7 has x = 3, w = 5).
"""
import math
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
from PIL import Image, ImageDraw

SHAPE_NAMES = ("circle", "square", "triangle", "cross")

MIN_SIDE, MAX_SIDE = 160, 320          # image side lengths, drawn independently for H and W
MAX_OBJECTS = 6
SMALL_OBJECT_PROB = 0.15                # share of objects drawn with a side in SMALL_SIDE_RANGE
SMALL_SIDE_RANGE = (10, 24)             # COCO "small" is area < 32 x 32
LARGE_SIDE_FRACTION = 0.5               # largest object side, as a fraction of the short side
MEDIUM_MIN_SIDE = 30                    # smallest side of the other objects
PLACEMENT_TRIES = 30
BOX_MARGIN = 2                          # pixels kept free between object boxes (no occlusion)


@dataclass
class ShapeObject:
    """One drawn object: ``category_index`` into SHAPE_NAMES, tight ``box_xywh`` and pixel ``area``."""

    category_index: int
    box_xywh: Tuple[int, int, int, int]
    area: int


def render_image(rng: np.random.Generator, num_objects: int) -> Tuple[np.ndarray, List[ShapeObject]]:
    """Render one image with up to ``num_objects`` non-overlapping shapes.

    Returns:
        image: uint8 array [H, W, 3] (RGB), H and W in [MIN_SIDE, MAX_SIDE].
        objects: the shapes that were placed (fewer than asked when the image is crowded).
    """
    height, width = (int(v) for v in rng.integers(MIN_SIDE, MAX_SIDE + 1, size=2))
    canvas = _background(rng, height, width)
    objects, taken = [], []
    for _ in range(num_objects):
        placed = _place_shape(rng, canvas, taken)
        if placed is not None:
            objects.append(placed)
            taken.append(placed.box_xywh)
    return np.clip(canvas, 0, 255).astype(np.uint8), objects


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Gradient + blotchy low-frequency noise + stripes + pixel noise, float32 [H, W, 3]."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xs * math.cos(angle) + ys * math.sin(angle))
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    start, end = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    canvas = start + ramp[..., None] * (end - start)

    coarse = rng.normal(0, 1, size=(max(height // 24, 2), max(width // 24, 2), 3)).astype(np.float32)
    blotches = np.stack([np.asarray(Image.fromarray(coarse[..., c]).resize((width, height), Image.BILINEAR))
                         for c in range(3)], axis=-1)
    canvas += blotches * rng.uniform(5, 25)

    stripe_angle = rng.uniform(0, math.pi)
    period = rng.uniform(6, 30)
    phase = (xs * math.cos(stripe_angle) + ys * math.sin(stripe_angle)) * (2 * math.pi / period)
    canvas += (np.sin(phase) * rng.uniform(0, 30))[..., None] * rng.uniform(0.3, 1.0, size=3)

    canvas += rng.normal(0, rng.uniform(3, 14), size=canvas.shape).astype(np.float32)
    return canvas


def _place_shape(rng: np.random.Generator, canvas: np.ndarray, taken: List[Tuple[int, int, int, int]]):
    """Try to draw one random shape into ``canvas`` (in place) without touching ``taken`` boxes."""
    height, width = canvas.shape[:2]
    category = int(rng.integers(len(SHAPE_NAMES)))
    side = _object_side(rng, min(height, width))
    for _ in range(PLACEMENT_TRIES):
        center = (rng.uniform(side / 2 + 1, width - side / 2 - 1), rng.uniform(side / 2 + 1, height - side / 2 - 1))
        mask = _shape_mask(rng, SHAPE_NAMES[category], center, side, (height, width))
        bbox = mask.getbbox()
        if bbox is None or _overlaps(bbox, taken):
            continue
        pixels = np.asarray(mask, dtype=bool)
        colour = _contrasting_colour(rng, canvas[pixels])
        shading = rng.normal(0, rng.uniform(0, 8), size=(int(pixels.sum()), 3))
        canvas[pixels] = colour + shading
        x0, y0, x1, y1 = bbox
        return ShapeObject(category, (x0, y0, x1 - x0, y1 - y0), int(pixels.sum()))
    return None


def _object_side(rng: np.random.Generator, short_side: int) -> float:
    """Object side length: a share of small objects, the rest log-uniform up to half the short side."""
    if rng.uniform() < SMALL_OBJECT_PROB:
        return float(rng.uniform(*SMALL_SIDE_RANGE))
    low, high = MEDIUM_MIN_SIDE, LARGE_SIDE_FRACTION * short_side
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _shape_mask(rng: np.random.Generator, name: str, center, side: float, size_hw) -> Image.Image:
    """A binary "L" mask [H, W] of one shape with its bounding square of ``side`` around ``center``."""
    mask = Image.new("L", (size_hw[1], size_hw[0]), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = center
    if name == "circle":
        aspect = rng.uniform(0.8, 1.0)
        rx, ry = (side / 2, side / 2 * aspect) if rng.uniform() < 0.5 else (side / 2 * aspect, side / 2)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
        return mask
    if name == "square":
        half = side / 2 * rng.uniform(0.75, 0.95)
        points = [(-half, -half), (half, -half), (half, half), (-half, half)]
        rotation = rng.uniform(-0.25, 0.25)
    elif name == "triangle":
        radius = side / 2
        points = [(radius * math.cos(a), radius * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        rotation = rng.uniform(0, 2 * math.pi)
    else:  # cross: a plus sign with arms of width ~ a third of its span
        half, arm = side / 2, side / 2 * rng.uniform(0.28, 0.4)
        points = [(-arm, -half), (arm, -half), (arm, -arm), (half, -arm), (half, arm), (arm, arm),
                  (arm, half), (-arm, half), (-arm, arm), (-half, arm), (-half, -arm), (-arm, -arm)]
        rotation = rng.uniform(-0.25, 0.25)
    cos_r, sin_r = math.cos(rotation), math.sin(rotation)
    draw.polygon([(cx + x * cos_r - y * sin_r, cy + x * sin_r + y * cos_r) for x, y in points], fill=255)
    return mask


def _overlaps(bbox_xyxy, taken: List[Tuple[int, int, int, int]]) -> bool:
    x0, y0, x1, y1 = bbox_xyxy
    for tx, ty, tw, th in taken:
        if x0 < tx + tw + BOX_MARGIN and tx < x1 + BOX_MARGIN and y0 < ty + th + BOX_MARGIN and ty < y1 + BOX_MARGIN:
            return True
    return False


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """Among a few random colours, the one farthest from the mean background under the shape."""
    candidates = rng.uniform(0, 255, size=(8, 3))
    reference = under.mean(axis=0) if len(under) else np.full(3, 127.5)
    return candidates[np.argmax(np.linalg.norm(candidates - reference, axis=1))]

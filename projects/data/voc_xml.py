"""Pascal VOC XML annotations -> boxes in pixels, with a counted, logged rule for boxes outside their image."""
import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import List, NamedTuple, Tuple

logger = logging.getLogger(__name__)


class VocError(ValueError):
    """An annotation file that cannot be read as Pascal VOC; the message is one line naming the file."""


class VocBox(NamedTuple):
    """One object: corners in pixels (x0 < x1, y0 < y1) and its VOC class name."""
    x0: float
    y0: float
    x1: float
    y1: float
    label: str


class VocAnnotation(NamedTuple):
    width: int
    height: int
    boxes: List[VocBox]
    clipped: int   # boxes partly outside the image, clipped to it
    dropped: int   # boxes wholly outside the image or without area


def _number(node, tag: str, path) -> float:
    text = node.findtext(tag)
    try:
        return float(text)
    except (TypeError, ValueError):
        raise VocError(f"{path}: <{tag}> is {text!r}, not a number") from None


def clip_box(box: Tuple[float, float, float, float], width: float, height: float):
    """(x0, y0, x1, y1) clipped to [0, width] x [0, height]; None when nothing with area is left."""
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], width), min(box[3], height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def read_voc(path) -> VocAnnotation:
    """Read a VOC XML file. Boxes partly outside the image are clipped to it, boxes wholly outside (or with
    x1 <= x0 or y1 <= y0) are dropped; both are counted and logged, never silent."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as error:
        raise VocError(f"{path}: not a readable VOC XML file ({error})") from None
    width, height = _number(root, "size/width", path), _number(root, "size/height", path)
    boxes, clipped, dropped = [], 0, 0
    for obj in root.iter("object"):
        node = obj.find("bndbox")
        if node is None:
            raise VocError(f"{path}: an <object> without <bndbox>")
        raw = tuple(_number(node, tag, path) for tag in ("xmin", "ymin", "xmax", "ymax"))
        box = clip_box(raw, width, height)
        if box is None:
            dropped += 1
            continue
        clipped += box != raw
        boxes.append(VocBox(*box, label=(obj.findtext("name") or "").strip()))
    if clipped or dropped:
        logger.warning("%s: %d box(es) clipped to the %dx%d image, %d dropped (outside it or without area)",
                       Path(path).name, clipped, width, height, dropped)
    return VocAnnotation(int(width), int(height), boxes, clipped, dropped)

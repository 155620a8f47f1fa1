"""The NEON tree crowns ("tree_crowns_train" / "tree_crowns_val"): real airborne RGB photographs with
hand-drawn crown boxes, shipped in the ``deepforest`` 2.1.0 package (``deepforest/data/``, package MIT).

On first use the four annotated photographs are tiled (TILE_SIZE px tiles, TILE_OVERLAP px shared; the
border rule in ``projects.data.tiling``), converted from Pascal VOC XML to COCO JSON and cached beside the
embedded dataset; then both splits go through Detectron2's COCO loader like ``embedded_shapes_*``.
One class, "tree" (SOAP_061's Alive / Dead both count as tree crowns).

Split by image: the validation image is never tiled into training, and the photographs do not overlap on
the ground (their names carry their 1 km NEON tile coordinates: YELL 528000_4978000 vs 541000_4977000,
and two other sites), so no validation pixel is seen in training.

Skipped, counted and logged, never silent: boxes outside their image (``voc_xml``), boxes cut by a tile
border below the visibility rule, and empty tiles (no crown kept in them: unannotated ground).
"""
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json

from projects.data.embedded_dataset import default_embedded_root
from projects.data.tiling import Tile, tile_image
from projects.data.voc_xml import read_voc

logger = logging.getLogger(__name__)

TREE_CROWNS_VERSION = 1
TILE_SIZE = 400
TILE_OVERLAP = 80
CLASS_NAMES = ("tree",)
TREE_CROWN_DATASET_NAMES = {"train": "tree_crowns_train", "val": "tree_crowns_val"}
SPLIT_IMAGES = {  # deepforest/data/<name>.png + <name>.xml
    "train": ("2019_YELL_2_528000_4978000_image_crop2", "OSBS_029", "SOAP_061"),
    "val": ("2019_YELL_2_541000_4977000_image_crop",),
}
PACKAGE = "deepforest"
INSTALL = "pip install --no-deps deepforest==2.1.0"


class MissingDataPackageError(ImportError):
    """The package that ships the photographs is not installed; the message is the pip command."""


class TileCounts(NamedTuple):
    tiles: int
    boxes: int
    empty_tiles: int
    cut_boxes: int


def tree_crowns_root() -> Path:
    """``$DETECTRON2_DATASETS/tree_crowns`` (beside ``embedded_shapes``)."""
    return default_embedded_root().parent / "tree_crowns"


def source_folder() -> Path:
    """``deepforest/data`` of the installed package, found without importing it (its imports are heavy)."""
    spec = importlib.util.find_spec(PACKAGE)
    folder = Path(spec.submodule_search_locations[0]) / "data" if spec and spec.submodule_search_locations else None
    if folder is None or not folder.is_dir():
        raise MissingDataPackageError(f"the NEON tree-crown photographs come from the package {PACKAGE}, "
                                      f"which is not installed: {INSTALL}")
    return folder


def _manifest() -> Dict:
    return {"name": "tree_crowns", "version": TREE_CROWNS_VERSION, "tile_size": TILE_SIZE,
            "tile_overlap": TILE_OVERLAP, "splits": {k: list(v) for k, v in SPLIT_IMAGES.items()}}


def annotation_file(root: Path, split: str) -> Path:
    return Path(root) / "annotations" / f"instances_{split}.json"


def _is_complete(root: Path) -> bool:
    try:
        return json.loads((root / "MANIFEST.json").read_text()) == _manifest() and all(
            annotation_file(root, split).is_file() for split in SPLIT_IMAGES)
    except (OSError, ValueError):
        return False


def _coco_tile(tile: Tile, image_id: int, file_name: str, first_id: int) -> Tuple[Dict, List[Dict]]:
    image = {"id": image_id, "file_name": file_name, "width": tile.width, "height": tile.height}
    annotations = [{"id": first_id + i, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                    "bbox": [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0], "area": (b.x1 - b.x0) * (b.y1 - b.y0)}
                   for i, b in enumerate(tile.boxes)]
    return image, annotations


def write_split(source: Path, root: Path, split: str) -> TileCounts:
    """Tile the split's photographs into ``root/<split>/*.png`` and write its COCO JSON."""
    folder = root / split
    folder.mkdir(parents=True)
    images, annotations, empty, cut = [], [], 0, 0
    names = SPLIT_IMAGES[split]
    for index, name in enumerate(names, start=1):
        voc = read_voc(source / f"{name}.xml")
        pixels = np.asarray(Image.open(source / f"{name}.png").convert("RGB"))
        if pixels.shape[:2] != (voc.height, voc.width):
            raise ValueError(f"{name}.png is {pixels.shape[1]}x{pixels.shape[0]} but its XML says {voc.width}x{voc.height}")
        tiles = tile_image(voc.width, voc.height, voc.boxes, TILE_SIZE, TILE_OVERLAP)
        kept = [t for t in tiles if t.boxes]
        empty += len(tiles) - len(kept)
        cut += sum(t.cut for t in tiles)
        for tile in kept:
            file_name = f"{name}_{tile.x0}_{tile.y0}.png"
            Image.fromarray(pixels[tile.y0:tile.y0 + tile.height, tile.x0:tile.x0 + tile.width]).save(folder / file_name)
            image, objects = _coco_tile(tile, len(images) + 1, file_name, len(annotations) + 1)
            images.append(image)
            annotations += objects
        logger.info("tree_crowns %s: image %d/%d %s (%dx%d, %d crowns) -> %d tiles, %d empty tiles skipped",
                    split, index, len(names), name, voc.width, voc.height, len(voc.boxes), len(kept),
                    len(tiles) - len(kept))
    coco = {"info": {"description": f"NEON tree crowns {split} ({TILE_SIZE}px tiles, {TILE_OVERLAP}px overlap)"},
            "images": images, "annotations": annotations, "licenses": [],
            "categories": [{"id": 1, "name": CLASS_NAMES[0], "supercategory": "plant"}]}
    annotation_file(root, split).parent.mkdir(parents=True, exist_ok=True)
    annotation_file(root, split).write_text(json.dumps(coco))
    return TileCounts(len(images), len(annotations), empty, cut)


def ensure_tree_crowns(root: Optional[Path] = None) -> Path:
    """Make sure ``root`` (default ``tree_crowns_root()``) holds the tiled dataset; generate it atomically if not."""
    root = Path(root) if root is not None else tree_crowns_root()
    if _is_complete(root):
        return root
    source = source_folder()
    logger.info("Generating tree_crowns from %s into %s (first use; a few seconds)", source, root)
    start = time.perf_counter()
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        for split in SPLIT_IMAGES:
            counts = write_split(source, tmp, split)
            logger.info("tree_crowns %s: %d tiles, %d crowns; skipped %d empty tiles and %d boxes cut by a "
                        "tile border", split, counts.tiles, counts.boxes, counts.empty_tiles, counts.cut_boxes)
        (tmp / "MANIFEST.json").write_text(json.dumps(_manifest(), indent=1))  # last: marks a complete copy
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Generated tree_crowns in %.1f s", time.perf_counter() - start)
    return root


def _load_split(split: str, root: Path) -> List[Dict]:
    """Generate the cache if needed, point the metadata at its files, and read the split with Detectron2's
    COCO loader."""
    root = ensure_tree_crowns(root)
    name = TREE_CROWN_DATASET_NAMES[split]
    _set_paths(name, root, split)
    return load_coco_json(str(annotation_file(root, split)), str(root / split), name)


def _set_paths(name: str, root: Path, split: str) -> None:
    meta = MetadataCatalog.get(name)
    if meta.get("json_file", None) is None:  # set once: Detectron2's Metadata refuses to change a value
        meta.set(json_file=str(annotation_file(root, split)), image_root=str(root / split))


def register_tree_crowns(root: Optional[Path] = None) -> None:
    """Register tree_crowns_train / tree_crowns_val (COCO format, evaluator "coco") from ``root`` (default:
    ``tree_crowns_root()`` now). The files are made there on the first DatasetCatalog.get, which also sets
    the metadata's ``json_file`` / ``image_root`` (set at once when the cache is already complete; before
    that the project's dataset-path check has nothing to find missing). Idempotent: names already
    registered are left as they are."""
    root_now = Path(root) if root is not None else tree_crowns_root()
    for split, name in TREE_CROWN_DATASET_NAMES.items():
        if name in DatasetCatalog.list():
            continue
        DatasetCatalog.register(name, lambda split=split: _load_split(split, root_now))
        MetadataCatalog.pop(name, None)
        MetadataCatalog.get(name).set(evaluator_type="coco", thing_classes=list(CLASS_NAMES))
        if _is_complete(root_now):
            _set_paths(name, root_now, split)

"""The embedded default dataset ("embedded_shapes"): synthetic shapes in real COCO format.

The images and COCO JSON files are generated once, deterministically from a seed, into a cache
folder and then registered through Detectron2's own COCO loader, so training and evaluation run
through exactly the code path a user's COCO dataset takes.

Layout of the cache folder::

    <root>/train/000000.jpg ...          <root>/val/000000.jpg ...
    <root>/annotations/instances_train.json
    <root>/annotations/instances_val.json
    <root>/MANIFEST.json                 version stamp: generator version, seed, split sizes

The folder is built in a temporary sibling directory and renamed into place, so an interrupted
generation never leaves a half-written cache behind.
"""
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances

from projects.data.shape_renderer import MAX_OBJECTS, SHAPE_NAMES, render_image

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1            # bump whenever the rendered content changes
DEFAULT_SEED = 2020
DEFAULT_NUM_TRAIN = 600
DEFAULT_NUM_VAL = 100
EMPTY_IMAGE_EVERY = 40           # image index % 40 == 7 has no objects: a few per split, always
JPEG_QUALITY = 92

EMBEDDED_DATASET_NAMES = {"train": "embedded_shapes_train", "val": "embedded_shapes_val"}
EMBEDDED_CLASS_NAMES = SHAPE_NAMES
MANIFEST_NAME = "MANIFEST.json"

PathLike = Union[str, os.PathLike]


def default_embedded_root() -> Path:
    """``$DETECTRON2_DATASETS/embedded_shapes`` if the variable is set, else ``./datasets/embedded_shapes``."""
    return Path(os.environ.get("DETECTRON2_DATASETS", "datasets")) / "embedded_shapes"


def annotation_file(root: PathLike, split: str) -> Path:
    return Path(root) / "annotations" / f"instances_{split}.json"


def image_folder(root: PathLike, split: str) -> Path:
    return Path(root) / split


def register_embedded_dataset(root: Optional[PathLike] = None, num_train: int = DEFAULT_NUM_TRAIN,
                              num_val: int = DEFAULT_NUM_VAL, seed: int = DEFAULT_SEED) -> Path:
    """Generate the embedded dataset if needed and register its train/val splits.

    Registers ``embedded_shapes_train`` and ``embedded_shapes_val`` (COCO format, evaluator type
    "coco", category ids 1..4 = circle, square, triangle, cross). Idempotent: names that are already
    registered are left as they are. Returns the root the datasets are registered from (the
    existing one when both names were registered before, possibly from another root).
    """
    registered = [name in DatasetCatalog.list() for name in EMBEDDED_DATASET_NAMES.values()]
    if all(registered):
        existing = Path(MetadataCatalog.get(EMBEDDED_DATASET_NAMES["train"]).json_file).parents[1]
        if root is not None and Path(root).resolve() != existing.resolve():
            logger.warning("embedded_shapes is already registered from %s; not re-registering from %s",
                           existing, root)
        return existing
    root = ensure_embedded_dataset(root, num_train=num_train, num_val=num_val, seed=seed)
    for (split, name), done in zip(EMBEDDED_DATASET_NAMES.items(), registered):
        if not done:
            MetadataCatalog.pop(name, None)  # metadata left over from a removed registration
            register_coco_instances(name, {"thing_classes": list(EMBEDDED_CLASS_NAMES)},
                                    str(annotation_file(root, split)), str(image_folder(root, split)))
    return root


def ensure_embedded_dataset(root: Optional[PathLike] = None, num_train: int = DEFAULT_NUM_TRAIN,
                            num_val: int = DEFAULT_NUM_VAL, seed: int = DEFAULT_SEED) -> Path:
    """Make sure ``root`` holds a complete copy of the dataset with these settings; return ``root``.

    Reuses a complete, version-stamped copy; otherwise generates a new one atomically. A folder
    holding an older or differently sized copy is replaced; a non-empty folder without a manifest
    is never touched (FileExistsError).
    """
    root = Path(root) if root is not None else default_embedded_root()
    wanted = _manifest(num_train, num_val, seed)
    if _is_complete(root, wanted):
        return root
    if root.exists() and any(root.iterdir()) and not (root / MANIFEST_NAME).exists():
        raise FileExistsError(f"{root} exists, is not empty and is not an embedded_shapes cache; "
                              "pass another root to register_embedded_dataset")
    _generate_atomically(root, wanted)
    return root


def _manifest(num_train: int, num_val: int, seed: int) -> dict:
    return {"name": "embedded_shapes", "version": GENERATOR_VERSION, "seed": int(seed),
            "num_train": int(num_train), "num_val": int(num_val)}


def _is_complete(root: Path, wanted: dict) -> bool:
    """True when ``root`` carries the wanted manifest and every listed image file exists."""
    try:
        if json.loads((root / MANIFEST_NAME).read_text()) != wanted:
            return False
        for split in EMBEDDED_DATASET_NAMES:
            images = json.loads(annotation_file(root, split).read_text())["images"]
            if len(images) != wanted[f"num_{split}"]:
                return False
            if not all((image_folder(root, split) / im["file_name"]).is_file() for im in images):
                return False
    except (OSError, ValueError, KeyError):
        return False
    return True


def _generate_atomically(root: Path, manifest: dict) -> None:
    """Write the dataset into a temporary sibling folder, then rename it to ``root``."""
    root.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        for split in EMBEDDED_DATASET_NAMES:
            write_split(tmp, split, manifest[f"num_{split}"], manifest["seed"])
        # The manifest is written last: its presence marks a complete copy.
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
        _move_into_place(tmp, root, manifest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Generated embedded_shapes (%d train / %d val images) in %s in %.1f s",
                manifest["num_train"], manifest["num_val"], root, time.perf_counter() - start)


def _move_into_place(tmp: Path, root: Path, manifest: dict) -> None:
    stale = None
    if root.exists() and any(root.iterdir()):
        stale = root.parent / f".{root.name}.stale-{os.getpid()}-{time.time_ns()}"
        os.rename(root, stale)
    try:
        os.replace(tmp, root)  # replaces an empty directory; fails if another process won the race
    except OSError:
        if not _is_complete(root, manifest):
            raise
        logger.info("Another process finished generating %s first; using its copy", root)
    if stale is not None:
        shutil.rmtree(stale, ignore_errors=True)


def write_split(root: Path, split: str, num_images: int, seed: int) -> None:
    """Render ``num_images`` images of one split into ``root/<split>`` plus its COCO JSON."""
    folder = image_folder(root, split)
    folder.mkdir(parents=True)
    images, annotations = [], []
    split_key = list(EMBEDDED_DATASET_NAMES).index(split)
    for index in range(num_images):
        # One generator per image: every image depends only on (seed, split, index).
        rng = np.random.default_rng([seed, split_key, index])
        num_objects = 0 if index % EMPTY_IMAGE_EVERY == 7 else int(rng.integers(1, MAX_OBJECTS + 1))
        pixels, objects = render_image(rng, num_objects)
        file_name = f"{index:06d}.jpg"
        Image.fromarray(pixels).save(folder / file_name, quality=JPEG_QUALITY)
        image_id = index + 1
        images.append({"id": image_id, "file_name": file_name,
                       "height": pixels.shape[0], "width": pixels.shape[1]})
        for obj in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": obj.category_index + 1, "bbox": list(obj.box_xywh),
                                "area": obj.area, "iscrowd": 0})
    categories = [{"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(SHAPE_NAMES)]
    coco = {"info": {"description": f"embedded_shapes {split}", "version": str(GENERATOR_VERSION)},
            "licenses": [], "images": images, "annotations": annotations, "categories": categories}
    json_path = annotation_file(root, split)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(coco))

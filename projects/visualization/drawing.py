"""Detections and ground truth drawn with Detectron2's Visualizer, and the dataset metadata they need."""
import logging
from typing import List

import numpy as np

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Instances
from detectron2.utils.visualizer import Visualizer

from projects.visualization.inputs import ToolInputError

logger = logging.getLogger(__name__)


def dataset_metadata(cfg, split: str = "TEST"):
    """Metadata (class names) of the first dataset of ``cfg.DATASETS.<split>`` (falling back to the
    other split). COCO-json datasets set ``thing_classes`` while loading, so they are loaded if
    needed. Raises ToolInputError when the class count differs from MODEL.DETR.NUM_CLASSES."""
    names = list(getattr(cfg.DATASETS, split)) or list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST)
    if not names:
        logger.warning("The config names no dataset: classes are drawn as numbers")
        return MetadataCatalog.get("__unnamed_dataset")
    metadata = require_dataset(names[0])
    num_classes = cfg.MODEL.DETR.NUM_CLASSES
    if len(metadata.thing_classes) != num_classes:
        raise ToolInputError(f"MODEL.DETR.NUM_CLASSES is {num_classes} but dataset {names[0]} has "
                             f"{len(metadata.thing_classes)} classes")
    return metadata


def require_dataset(name: str):
    """Metadata of a registered dataset, with ``thing_classes`` set; ToolInputError if unknown."""
    if name not in DatasetCatalog.list():
        known = ", ".join(sorted(DatasetCatalog.list())[:8])
        raise ToolInputError(f"dataset {name} is not registered (known: {known} ...)")
    metadata = MetadataCatalog.get(name)
    if not hasattr(metadata, "thing_classes"):
        load_dataset(name)
    return MetadataCatalog.get(name)


def load_dataset(name: str) -> List[dict]:
    """The dataset dicts of ``name``; ToolInputError when its files are missing."""
    try:
        return DatasetCatalog.get(name)
    except (OSError, AssertionError) as error:
        raise ToolInputError(f"cannot load dataset {name}: {error}") from None


def draw_predictions(rgb: np.ndarray, instances: Instances, metadata, threshold: float) -> np.ndarray:
    """RGB uint8 [H, W, 3] with the boxes, class names and scores of detections scoring >= threshold."""
    kept = instances[instances.scores >= threshold]
    return Visualizer(rgb, metadata).draw_instance_predictions(kept).get_image()


def draw_annotations(rgb: np.ndarray, dataset_dict: dict, metadata) -> np.ndarray:
    """RGB uint8 [H, W, 3] with a dataset dict's annotated boxes and class names."""
    return Visualizer(rgb, metadata).draw_dataset_dict(dataset_dict).get_image()


def draw_targets(rgb: np.ndarray, instances: Instances, metadata) -> np.ndarray:
    """RGB uint8 [H, W, 3] with a training mapper's targets (gt_boxes, gt_classes)."""
    names = metadata.get("thing_classes", None)
    labels = [names[c] if names else str(c) for c in instances.gt_classes.tolist()]
    visualizer = Visualizer(rgb, metadata)
    return visualizer.overlay_instances(boxes=instances.gt_boxes, labels=labels).get_image()


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 4) -> np.ndarray:
    """Two RGB images [H_i, W_i, 3] next to each other on a white canvas."""
    height = max(left.shape[0], right.shape[0])
    canvas = np.full((height, left.shape[1] + gap + right.shape[1], 3), 255, dtype=np.uint8)
    canvas[: left.shape[0], : left.shape[1]] = left
    canvas[: right.shape[0], left.shape[1] + gap:] = right
    return canvas

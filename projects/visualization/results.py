"""The evaluator's saved detections (``coco_instances_results.json``) read back per image."""
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from detectron2.data import MetadataCatalog
from detectron2.structures import Boxes, BoxMode, Instances

from projects.data import EMBEDDED_DATASET_NAMES, register_embedded_dataset

from projects.visualization.drawing import load_dataset, require_dataset
from projects.visualization.inputs import ToolInputError


def read_results(path):
    """The evaluator's detections: a list of {"image_id", "category_id", "bbox" (XYWH), "score"}."""
    try:
        results = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ToolInputError(f"cannot read results {path}: {error}") from None
    needed = {"image_id", "category_id", "bbox", "score"}
    if not isinstance(results, list) or any(not needed <= set(r) for r in results):
        raise ToolInputError(f"{path} is not a COCO detection results file (a list of {sorted(needed)})")
    return results


def contiguous_ids(metadata):
    """{dataset category id: contiguous class index} of a registered dataset."""
    to_contiguous = getattr(metadata, "thing_dataset_id_to_contiguous_id", None)
    if to_contiguous is None:  # a dataset registered with contiguous ids already
        to_contiguous = {index: index for index in range(len(metadata.thing_classes))}
    return to_contiguous


def predictions_per_image(results, metadata):
    """{image_id: Instances} (pred_boxes XYXY, scores, pred_classes contiguous) from the results."""
    to_contiguous = contiguous_ids(metadata)
    unknown = {r["category_id"] for r in results} - set(to_contiguous)
    if unknown:
        raise ToolInputError(f"category ids {sorted(unknown)} are not in the dataset's categories")
    grouped = defaultdict(list)
    for result in results:
        grouped[result["image_id"]].append(result)
    return {image_id: to_instances(items, to_contiguous) for image_id, items in grouped.items()}


def to_instances(items, to_contiguous):
    """Detections of one image -> Instances (its image size is not needed for drawing or matching)."""
    instances = Instances((0, 0))
    boxes = [BoxMode.convert(r["bbox"], BoxMode.XYWH_ABS, BoxMode.XYXY_ABS) for r in items]
    instances.pred_boxes = Boxes(torch.tensor(np.array(boxes, dtype=np.float32).reshape(-1, 4)))
    instances.scores = torch.tensor([float(r["score"]) for r in items], dtype=torch.float32)
    instances.pred_classes = torch.tensor([to_contiguous[r["category_id"]] for r in items], dtype=torch.int64)
    return instances


def empty_predictions():
    return to_instances([], {})


def check_images_match(predictions, dataset_dicts, dataset_name):
    """Refuse detections none of whose image ids are in the dataset (the wrong --dataset)."""
    if predictions and not set(predictions) & {d["image_id"] for d in dataset_dicts}:
        raise ToolInputError(f"no predicted image id is in dataset {dataset_name}: wrong --dataset?")


def load_results_for_dataset(results_path, dataset_name):
    """(dataset_dicts, {image_id: Instances}, metadata) for the evaluator's saved detections on a
    registered dataset (the embedded datasets are registered on demand); one-line errors for a bad
    file, an unknown dataset, unknown categories or detections of another dataset."""
    if dataset_name in EMBEDDED_DATASET_NAMES.values():
        register_embedded_dataset()
    results = read_results(results_path)
    require_dataset(dataset_name)
    dataset_dicts = load_dataset(dataset_name)  # loading a COCO json sets the category id mapping
    metadata = MetadataCatalog.get(dataset_name)
    predictions = predictions_per_image(results, metadata)
    check_images_match(predictions, dataset_dicts, dataset_name)
    return dataset_dicts, predictions, metadata

#!/usr/bin/env python
"""Draw the evaluator's saved detections beside the ground truth, one image per dataset image.

    python train_net.py --config-file configs/quickstart/detr_embedded.yaml --eval-only \\
        MODEL.WEIGHTS output/quickstart_detr/model_final.pth
    python tools/visualize_json_results.py \\
        --input output/quickstart_detr/inference/embedded_shapes_val/coco_instances_results.json \\
        --dataset embedded_shapes_val --output output/results_vs_gt --conf-threshold 0.5

Left: predictions scoring at least --conf-threshold; right: the ground truth.
"""
import argparse
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectron2.data import MetadataCatalog  # noqa: E402
from detectron2.structures import Boxes, BoxMode, Instances  # noqa: E402

from projects.data import EMBEDDED_DATASET_NAMES, register_embedded_dataset  # noqa: E402
from projects.visualization import (  # noqa: E402
    ToolInputError, draw_annotations, draw_predictions, exit_on_input_error, load_dataset, read_image,
    require_dataset, save_image, setup_tool_logging, side_by_side,
)

logger = logging.getLogger("visualize_json_results")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="coco_instances_results.json written by COCOEvaluator")
    parser.add_argument("--dataset", required=True, help="the registered dataset it was evaluated on")
    parser.add_argument("--output", required=True, help="folder for the drawings")
    parser.add_argument("--conf-threshold", type=float, default=0.5, help="draw predictions scoring at least this")
    parser.add_argument("--num-images", type=int, default=0, help="draw only the first N images (0: all)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.conf_threshold <= 1.0:
        raise ToolInputError(f"--conf-threshold must be in [0, 1], got {args.conf_threshold}")
    return args


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


def predictions_per_image(results, metadata):
    """{image_id: Instances} (pred_boxes XYXY, scores, pred_classes contiguous) from the results."""
    to_contiguous = getattr(metadata, "thing_dataset_id_to_contiguous_id", None)
    if to_contiguous is None:  # a dataset registered with contiguous ids already
        to_contiguous = {index: index for index in range(len(metadata.thing_classes))}
    unknown = {r["category_id"] for r in results} - set(to_contiguous)
    if unknown:
        raise ToolInputError(f"category ids {sorted(unknown)} are not in the dataset's categories")
    grouped = defaultdict(list)
    for result in results:
        grouped[result["image_id"]].append(result)
    return {image_id: to_instances(items, to_contiguous) for image_id, items in grouped.items()}


def to_instances(items, to_contiguous):
    """Detections of one image -> Instances (its image size is not needed for drawing)."""
    instances = Instances((0, 0))
    boxes = [BoxMode.convert(r["bbox"], BoxMode.XYWH_ABS, BoxMode.XYXY_ABS) for r in items]
    instances.pred_boxes = Boxes(torch.tensor(np.array(boxes, dtype=np.float32).reshape(-1, 4)))
    instances.scores = torch.tensor([float(r["score"]) for r in items], dtype=torch.float32)
    instances.pred_classes = torch.tensor([to_contiguous[r["category_id"]] for r in items], dtype=torch.int64)
    return instances


def empty_predictions():
    return to_instances([], {})


@exit_on_input_error
def main(argv=None):
    args = parse_args(argv)
    setup_tool_logging("visualize_json_results")
    if args.dataset in EMBEDDED_DATASET_NAMES.values():
        register_embedded_dataset()
    results = read_results(args.input)
    require_dataset(args.dataset)
    dataset_dicts = load_dataset(args.dataset)  # loading a COCO json sets the category id mapping
    metadata = MetadataCatalog.get(args.dataset)
    predictions = predictions_per_image(results, metadata)
    if predictions and not set(predictions) & {d["image_id"] for d in dataset_dicts}:
        raise ToolInputError(f"no predicted image id is in dataset {args.dataset}: wrong --dataset?")
    Path(args.output).mkdir(parents=True, exist_ok=True)
    written = []
    for item in tqdm.tqdm(dataset_dicts[: args.num_images or None], unit="image"):
        rgb = read_image(item["file_name"], "RGB")
        found = predictions[item["image_id"]] if item["image_id"] in predictions else empty_predictions()
        drawing = side_by_side(draw_predictions(rgb, found, metadata, args.conf_threshold),
                               draw_annotations(rgb, item, metadata))
        written.append(str(Path(args.output) / (Path(item["file_name"]).stem + ".png")))
        save_image(written[-1], drawing)
    logger.info("wrote %d images (predictions left, ground truth right) to %s", len(written), args.output)
    return written


if __name__ == "__main__":
    main()

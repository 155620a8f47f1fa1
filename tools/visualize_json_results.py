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
import logging
from pathlib import Path

import tqdm

from projects.visualization import (
    ToolInputError, draw_annotations, draw_predictions, exit_on_input_error, read_image, save_image,
    setup_tool_logging, side_by_side,
)
from projects.visualization.results import empty_predictions, load_results_for_dataset

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


@exit_on_input_error
def main(argv=None):
    args = parse_args(argv)
    setup_tool_logging("visualize_json_results")
    dataset_dicts, predictions, metadata = load_results_for_dataset(args.input, args.dataset)
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

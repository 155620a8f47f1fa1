#!/usr/bin/env python
"""How many objects a trained model finds at each score threshold, from the evaluator's saved detections.

    python train_net.py --config-file configs/embedded_pretrained/main_job.yaml --eval-only \\
        MODEL.WEIGHTS output/main_job/model_final.pth
    python tools/score_recall.py \\
        --input output/main_job/inference/embedded_shapes_val/coco_instances_results.json \\
        --dataset embedded_shapes_val [--thresholds 0.3 0.5 0.7] [--iou 0.5]

Prints, per threshold, the detections kept, the objects found (right class, IoU >= --iou, one
detection per object), recall and precision, and the median over objects of the best score any
right-class detection at that IoU gives it. Use it to choose the score threshold for tools/demo.py.
"""
import argparse

from projects.visualization import ToolInputError, exit_on_input_error, setup_tool_logging
from projects.visualization.recall import best_scores, recall_at_scores
from projects.visualization.results import load_results_for_dataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="coco_instances_results.json written by COCOEvaluator")
    parser.add_argument("--dataset", required=True, help="the registered dataset it was evaluated on")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7])
    parser.add_argument("--iou", type=float, default=0.5, help="IoU at which a detection finds an object")
    args = parser.parse_args(argv)
    for value in [*args.thresholds, args.iou]:
        if not 0.0 <= value <= 1.0:
            raise ToolInputError(f"thresholds and --iou must be in [0, 1], got {value}")
    return args


def format_table(rows, median_best):
    lines = ["| score >= | detections | objects found | recall | precision |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['threshold']:.2f} | {row['detections']} | {row['found']} / {row['objects']} | "
                     f"{row['recall']:.1%} | {row['precision']:.1%} |")
    lines.append(f"median best score per object: {median_best:.3f}")
    return "\n".join(lines)


@exit_on_input_error
def main(argv=None):
    args = parse_args(argv)
    setup_tool_logging("score_recall")
    dataset_dicts, predictions, _ = load_results_for_dataset(args.input, args.dataset)
    rows = recall_at_scores(predictions, dataset_dicts, sorted(args.thresholds), args.iou)
    best = best_scores(predictions, dataset_dicts, args.iou)
    median_best = float(best.median()) if len(best) else float("nan")
    print(format_table(rows, median_best))
    return rows, median_best


if __name__ == "__main__":
    main()

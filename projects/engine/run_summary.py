"""The last lines of a train_net.py run: where its outputs are, what the model finds at the score
threshold the docs adopt, and the commands that draw and measure that.

Generic: any run whose evaluator saved its detections (COCOEvaluator writes
``OUTPUT_DIR/inference/<dataset>/coco_instances_results.json``) gets the recall line and the commands
for the first such test dataset; every run gets the list of the outputs that exist. Printed by the
main process, through the ``projects`` logger (console and log.txt).
"""
import logging
import os
import shlex
from typing import List, Optional, Sequence

from detectron2.data import DatasetCatalog

logger = logging.getLogger(__name__)

OUTPUT_FILES = (("model", "model_final.pth"), ("metrics", "metrics.json"), ("curves", "training_curves.png"))
DETECTIONS_FILE = "coco_instances_results.json"
NOT_REPEATED = ("OUTPUT_DIR", "MODEL.WEIGHTS")  # overrides the printed commands set themselves or drop


def shown_path(path: str) -> str:
    """``path`` relative to the working directory when it is under it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def repeated_overrides(opts: Sequence[str]) -> List[str]:
    """The KEY VALUE overrides of the command line a later tool needs too (all but NOT_REPEATED)."""
    pairs = zip(opts[0::2], opts[1::2])
    return [str(item) for key, value in pairs if key not in NOT_REPEATED for item in (key, value)]


def fresh_detections(cfg, since: float):
    """(dataset name, path) of the first test dataset whose saved detections were written at or after
    ``since`` (seconds since the epoch), or None."""
    for name in cfg.DATASETS.TEST:
        path = os.path.join(cfg.OUTPUT_DIR, "inference", name, DETECTIONS_FILE)
        if os.path.isfile(path) and os.path.getmtime(path) >= since:
            return name, path
    return None


def recall_line(dataset: str, detections: str, threshold: float) -> str:
    """"Recall at score >= t on <dataset>: ..." from the saved detections (IoU 0.5, one detection per
    object, as tools/score_recall.py)."""
    from projects.visualization.recall import recall_at_scores
    from projects.visualization.results import load_results_for_dataset

    dataset_dicts, predictions, _ = load_results_for_dataset(detections, dataset)
    row = recall_at_scores(predictions, dataset_dicts, [threshold])[0]
    return (f"Recall at score >= {threshold:g} on {dataset} (IoU 0.5): {row['found']} of {row['objects']} objects "
            f"({row['recall']:.1%}), precision {row['precision']:.1%} ({row['detections']} detections kept)")


def checked_recall_line(dataset: str, detections: str, threshold: float) -> str:
    """``recall_line``, or why it could not be computed (the run itself succeeded)."""
    from projects.visualization.inputs import ToolInputError

    try:
        return recall_line(dataset, detections, threshold)
    except ToolInputError as error:
        return f"Recall at score >= {threshold:g} on {dataset}: not computed ({error})"


def demo_command(config_file: str, opts: Sequence[str], weights: str, images: Sequence[str], output: str,
                 threshold: float) -> str:
    """The tools/demo.py command that draws ``weights``' detections on ``images``."""
    words = ["python", "tools/demo.py", "--config-file", config_file, "--input", *images, "--output", output,
             "--confidence-threshold", f"{threshold:g}", *repeated_overrides(opts), "MODEL.WEIGHTS", weights]
    return " ".join(shlex.quote(str(word)) for word in words)


def summary_lines(cfg, config_file: str, opts: Sequence[str], weights: Optional[str], since: float) -> List[str]:
    """The summary of a run that started at ``since`` with ``config_file`` + ``opts``; ``weights``: the
    model it trained or evaluated (None when there is no file)."""
    from projects.visualization.cli import DEMO_SCORE_THRESHOLD

    outputs = [(label, os.path.join(cfg.OUTPUT_DIR, name)) for label, name in OUTPUT_FILES]
    outputs = [(label, path) for label, path in outputs if os.path.isfile(path)]
    if weights and ("model", weights) not in outputs and os.path.isfile(weights):
        outputs = [("model", weights)] + [item for item in outputs if item[0] != "model"]
    found = fresh_detections(cfg, since)
    if found:
        outputs.append(("detections", found[1]))
    lines = [f"Outputs in {shown_path(cfg.OUTPUT_DIR)}:"] + [f"  {label:<10}  {shown_path(p)}" for label, p in outputs]
    if found is None or not weights:
        return lines
    dataset, detections = found
    images = [record["file_name"] for record in DatasetCatalog.get(dataset)[:2]]
    demo = demo_command(config_file, opts, shown_path(weights), [shown_path(image) for image in images],
                        shown_path(os.path.join(cfg.OUTPUT_DIR, "demo")), DEMO_SCORE_THRESHOLD)
    recall = ["python", "tools/score_recall.py", "--input", shown_path(detections), "--dataset", dataset]
    return lines + [
        checked_recall_line(dataset, detections, DEMO_SCORE_THRESHOLD),
        f"Draw the detections on two {dataset} images (score >= {DEMO_SCORE_THRESHOLD:g}):",
        f"  {demo}",
        "Objects found, recall and precision at each score threshold:",
        f"  {' '.join(shlex.quote(word) for word in recall)}",
    ]


def log_run_summary(cfg, config_file: str, opts: Sequence[str], weights: Optional[str], since: float) -> List[str]:
    """Log ``summary_lines`` as one message; returns them."""
    lines = summary_lines(cfg, config_file, opts, weights, since)
    logger.info("Run summary\n%s", "\n".join(lines))
    return lines

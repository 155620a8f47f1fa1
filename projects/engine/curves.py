"""Training curves as a PNG, drawn from Detectron2's ``metrics.json`` (one JSON object per line)."""
import json
import logging
from pathlib import Path

from detectron2.engine import HookBase

logger = logging.getLogger(__name__)


def read_metrics(metrics_file):
    """The records of a metrics.json file; a truncated last line (interrupted run) is skipped."""
    records = []
    for line in Path(metrics_file).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def plot_training_curves(metrics_file, output_file):
    """Plot total_loss and each weighted final-layer loss vs iteration, plus bbox AP where evaluated.

    Returns the written path, or None when the file holds no loss records yet.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_file)
    losses = [r for r in records if "total_loss" in r]
    if not losses:
        return None
    evaluations = [r for r in records if "bbox/AP" in r]
    figure, (loss_axis, ap_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for key in ["total_loss", "loss_ce", "loss_bbox", "loss_giou"]:
        points = [(r["iteration"], r[key]) for r in losses if key in r]
        if points:
            loss_axis.plot(*zip(*points), marker="." if len(points) < 20 else None, label=key)
    loss_axis.set(xlabel="iteration", ylabel="loss", title="training losses")
    loss_axis.legend()
    if evaluations:
        for key in ["bbox/AP", "bbox/AP50"]:
            ap_axis.plot([r["iteration"] for r in evaluations], [r[key] for r in evaluations], "o-", label=key)
        ap_axis.legend()
    ap_axis.set(xlabel="iteration", ylabel="AP", title="COCO bbox AP (validation)")
    figure.tight_layout()
    figure.savefig(output_file, dpi=100)
    plt.close(figure)
    return Path(output_file)


class TrainingCurvesHook(HookBase):
    """Writes OUTPUT_DIR/training_curves.png after each evaluation and when training ends."""

    def __init__(self, output_dir, period):
        self.metrics_file = Path(output_dir) / "metrics.json"
        self.output_file = Path(output_dir) / "training_curves.png"
        self.period = period

    def after_step(self):
        if self.period > 0 and (self.trainer.iter + 1) % self.period == 0:
            self._plot()

    def after_train(self):
        self._plot()

    def _plot(self):
        if not self.metrics_file.is_file():
            return
        try:
            if plot_training_curves(self.metrics_file, self.output_file):
                logger.info("Training curves written to %s", self.output_file)
        except Exception as error:  # a plot must never stop training
            logger.warning("Could not plot training curves: %s", error)

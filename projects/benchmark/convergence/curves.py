"""AP-vs-iteration curves: one run's from its metrics.json, and the mean over seeds with the spread."""
from pathlib import Path
from typing import Dict, List, NamedTuple, Sequence

from projects.engine.curves import read_metrics


class ApPoint(NamedTuple):
    """One evaluation of a run: iterations trained, COCO bbox AP and AP50 (0-100)."""
    iteration: int
    ap: float
    ap50: float


class MeanPoint(NamedTuple):
    """One evaluation point over seeds: mean AP, the seeds' lowest and highest AP, mean AP50."""
    iteration: int
    ap: float
    ap_low: float
    ap_high: float
    ap50: float
    ap50_low: float
    ap50_high: float


def trained_iterations(record_iteration: int, iters: int, eval_every: int):
    """Iterations trained when Detectron2 logged an evaluation under ``record_iteration``, or None for
    a record off this benchmark's grid.

    Periodic evaluations are logged under the 0-based index of the step just done (99 after 100
    steps); the final one under MAX_ITER (after training, the loop counter has moved one past the
    last step), or MAX_ITER + 1 when a finished run was resumed only to redo an evaluation that an
    interruption cut short.
    """
    if record_iteration >= iters:
        return iters
    if (record_iteration + 1) % eval_every == 0:
        return record_iteration + 1
    return None


def read_ap_curve(metrics_file, iters: int, eval_every: int) -> List[ApPoint]:
    """The evaluations in a run's metrics.json, sorted by iteration; [] when there is no file.

    A resumed run appends to the file: where an iteration was evaluated twice the later record wins.
    """
    if not Path(metrics_file).is_file():
        return []
    by_iteration: Dict[int, ApPoint] = {}
    for record in read_metrics(metrics_file):
        if "bbox/AP" not in record:
            continue
        iteration = trained_iterations(record["iteration"], iters, eval_every)
        if iteration is not None:
            by_iteration[iteration] = ApPoint(iteration, record["bbox/AP"], record["bbox/AP50"])
    return [by_iteration[i] for i in sorted(by_iteration)]


def mean_curve(curves: Sequence[Sequence[ApPoint]]) -> List[MeanPoint]:
    """The seeds' mean curve at the iterations every seed evaluated, with the lowest and highest AP."""
    if not curves:
        return []
    tables = [{p.iteration: p for p in curve} for curve in curves]
    common = sorted(set(tables[0]).intersection(*tables[1:]))
    points = []
    for iteration in common:
        aps = [table[iteration].ap for table in tables]
        ap50s = [table[iteration].ap50 for table in tables]
        points.append(MeanPoint(iteration, sum(aps) / len(aps), min(aps), max(aps),
                                sum(ap50s) / len(ap50s), min(ap50s), max(ap50s)))
    return points

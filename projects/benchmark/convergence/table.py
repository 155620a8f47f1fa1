"""The benchmark's results as a Markdown table (pastes into README): one row per method."""
from typing import List, NamedTuple, Optional, Sequence

from projects.benchmark.convergence.curves import MeanPoint
from projects.benchmark.convergence.speedup import iterations_to_reach, speed_up


class MethodResult(NamedTuple):
    """A method's finished runs: their seeds, the mean curve over them, mean training minutes."""
    method: str
    seeds: Sequence[int]
    curve: List[MeanPoint]
    train_minutes: float


def _value(mean: float, low: float, high: float) -> str:
    """"mean ± half-range" over seeds (the plain value for one seed)."""
    return f"{mean:.2f}" if high == low else f"{mean:.2f} ± {(high - low) / 2:.2f}"


def _iterations(value: Optional[float]) -> str:
    return "never" if value is None else f"{value:.0f}"


def _ap_curve(result: MethodResult):
    return [(p.iteration, p.ap) for p in result.curve]


def _speed_up_cell(result: MethodResult, reference: Optional[MethodResult]) -> str:
    if reference is None:
        return "n/a (no DETR run)"
    if reference.curve[-1].ap <= 0:
        return "n/a (DETR's final AP is 0)"
    if result.method == reference.method:
        return "1.0x"
    value = speed_up(_ap_curve(reference), _ap_curve(result))
    return f"never ({result.curve[-1].ap:.2f})" if value is None else f"{value:.2f}x"


def _to_reference_cell(result: MethodResult, reference: Optional[MethodResult]) -> str:
    if reference is None or reference.curve[-1].ap <= 0:
        return "n/a"
    return _iterations(iterations_to_reach(_ap_curve(result), reference.curve[-1].ap))


def markdown_table(results: Sequence[MethodResult], reference: str = "detr", target_ap: Optional[float] = None) -> str:
    """Per method: seeds, AP at every evaluation point, AP50 and AP at the end, iterations to reach
    the reference's final AP, speed-up, training minutes; a column "iters to AP <target_ap>" if given."""
    by_name = {r.method: r for r in results}
    ref = by_name.get(reference)
    points = sorted({p.iteration for r in results for p in r.curve})
    target_header = f"iters to DETR's final AP ({ref.curve[-1].ap:.2f})" if ref else "iters to DETR's final AP"
    header = (["method", "seeds"] + [f"AP@{i}" for i in points] + ["AP50 (final)", "AP (final)", target_header,
              "speed-up"] + ([f"iters to AP {target_ap:g}"] if target_ap else []) + ["train min"])
    rows = [_row(r, points, ref, target_ap) for r in results]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def _row(result: MethodResult, points, reference, target_ap) -> List[str]:
    at = {p.iteration: p for p in result.curve}
    final = result.curve[-1]
    cells = [result.method, " ".join(map(str, result.seeds))]
    cells += [_value(at[i].ap, at[i].ap_low, at[i].ap_high) if i in at else "-" for i in points]
    cells += [_value(final.ap50, final.ap50_low, final.ap50_high), _value(final.ap, final.ap_low, final.ap_high),
              _to_reference_cell(result, reference), _speed_up_cell(result, reference)]
    if target_ap:
        cells.append(_iterations(iterations_to_reach(_ap_curve(result), target_ap)))
    return cells + [f"{result.train_minutes:.1f}"]


def legend(regime: str, iters: int, eval_every: int, lr_drop: int) -> str:
    """The lines under the table that say how to read it."""
    return (f"Regime: {regime} trunk; {iters} iterations per run, LR x0.1 after iteration {lr_drop}, COCO bbox AP "
            f"on the validation set every {eval_every} iterations. AP values are the mean over the listed seeds; "
            "\"± h\" is half the range over seeds ((max - min) / 2; with 2 seeds each seed lies at mean ± h). "
            "Iterations to reach an AP are read from the mean AP-vs-iteration curve (which starts at 0 AP at "
            "iteration 0) by linear interpolation between evaluation points. Speed-up = (iterations DETR needs "
            "to reach its own final AP) / (iterations the method needs to reach it); \"never (x)\": the method "
            "ends at AP x without reaching it. \"train min\": training time Detectron2 logged (evaluation "
            "excluded), mean over seeds.\n")

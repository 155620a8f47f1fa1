"""The benchmark's results as a Markdown table (pastes into README): one row per method."""
import math
from typing import List, NamedTuple, Optional, Sequence

from projects.benchmark.convergence.curves import ApPoint, MeanPoint, mean_curve
from projects.benchmark.convergence.runs import LR_DROP_AT
from projects.benchmark.convergence.speedup import iterations_to_reach, seed_pairs


class CutRun(NamedTuple):
    """A run the budget stopped before its last iteration: its last evaluated iteration (0: none yet)."""
    seed: int
    reached: int
    planned: int


class MethodResult(NamedTuple):
    """A method's row: the seeds of the runs it is made of, their curves, their mean training minutes,
    the method's runs cut by the budget; ``finished`` False when no run finished and the row is made
    of the cut runs (their last evaluation then stands for "final")."""
    method: str
    seeds: Sequence[int]
    seed_curves: Sequence[Sequence[ApPoint]]
    train_minutes: float
    cut: Sequence[CutRun] = ()
    finished: bool = True

    @property
    def curve(self) -> List[MeanPoint]:
        """The mean curve over the seeds, with their range."""
        return mean_curve(self.seed_curves)


def _value(mean: float, low: float, high: float, digits: int = 2, unit: str = "") -> str:
    """"mean ± half-range" over seeds (the plain value for one seed)."""
    text = f"{mean:.{digits}f}{unit}"
    return text if high == low else f"{text} ± {(high - low) / 2:.{digits}f}"


def _spread(values: Sequence[float], digits: int = 2, unit: str = "") -> str:
    return _value(sum(values) / len(values), min(values), max(values), digits, unit)


def _iterations(value: Optional[float]) -> str:
    return "never" if value is None else f"{value:.0f}"


def _curves(result: MethodResult):
    return [[(p.iteration, p.ap) for p in curve] for curve in result.seed_curves]


def _reference_problem(reference: Optional[MethodResult]) -> Optional[str]:
    """Why the speed-up cannot be read against ``reference``, or None."""
    if reference is None:
        return "no DETR run"
    if any(curve[-1].ap <= 0 for curve in reference.seed_curves):
        return "a DETR seed ends at AP 0"
    return None


def _pair_cells(result: MethodResult, reference: Optional[MethodResult]) -> List[str]:
    """[iterations to reach DETR's final AP, speed-up], both mean ± half-range over the seed pairs."""
    problem = _reference_problem(reference)
    if problem:
        return ["n/a", f"n/a ({problem})"]
    if result.method == reference.method:
        return [_spread([iterations_to_reach(c, c[-1][1]) for c in _curves(result)], 0), "1.0x"]
    pairs = seed_pairs(_curves(reference), _curves(result))
    reached = [pair for pair in pairs if pair[0] is not None]
    if not reached:
        never = "never" if result.finished else "not yet"  # a cut row may still get there once resumed
        return [never, f"{never} ({result.curve[-1].ap:.2f})"]
    note = "" if len(reached) == len(pairs) else f" ({len(pairs) - len(reached)} of {len(pairs)} seed pairs never)"
    return [_spread([n for n, _ in reached], 0) + note, _spread([s for _, s in reached], 2, "x") + note]


def equal_iteration_point(results: Sequence[MethodResult]) -> int:
    """The iteration every finished row evaluated last at or after: the shortest budget of the table."""
    finished = [r for r in results if r.finished] or results
    return min(r.curve[-1].iteration for r in finished)


def _equal_iteration_cell(result: MethodResult, reference: Optional[MethodResult], at: int) -> str:
    mine = {p.iteration: p.ap for p in result.curve}
    theirs = {p.iteration: p.ap for p in reference.curve} if reference else {}
    return f"{mine[at] - theirs[at]:+.2f}" if at in mine and at in theirs else "-"


def markdown_table(results: Sequence[MethodResult], reference: str = "detr", target_ap: Optional[float] = None) -> str:
    """Per method: seeds, AP at every evaluation point of any row, AP50 and AP at the end, iterations
    to reach the reference's final AP, speed-up, AP against the reference's at equal iterations,
    training minutes; a column "iters to AP <target_ap>" if given, one for the runs cut by the budget
    if any."""
    ref = next((r for r in results if r.method == reference), None)
    points = sorted({p.iteration for r in results for p in r.curve})
    at = equal_iteration_point(results)
    finals = [curve[-1].ap for curve in ref.seed_curves] if ref else []
    target = f" ({_spread(finals)})" if finals else ""
    any_cut = any(r.cut for r in results)
    header = (["method", "seeds"] + [f"AP@{i}" for i in points] + ["AP50 (final)", "AP (final)",
              f"iters to DETR's final AP{target}", "speed-up", f"ΔAP vs DETR @{at}"]
              + ([f"iters to AP {target_ap:g}"] if target_ap else []) + ["train min"]
              + (["cut by the budget"] if any_cut else []))
    rows = [_row(r, points, ref, at, target_ap, any_cut) for r in results]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def _row(result: MethodResult, points, reference, equal_at, target_ap, any_cut) -> List[str]:
    by_iteration = {p.iteration: p for p in result.curve}
    final = result.curve[-1]
    cells = [result.method + ("" if result.finished else " (cut)"), " ".join(map(str, result.seeds))]
    cells += [_value(p.ap, p.ap_low, p.ap_high) if p else "-" for p in map(by_iteration.get, points)]
    cells += [_value(final.ap50, final.ap50_low, final.ap50_high), _value(final.ap, final.ap_low, final.ap_high)]
    cells += _pair_cells(result, reference) + [_equal_iteration_cell(result, reference, equal_at)]
    if target_ap:
        cells.append(_iterations(iterations_to_reach([(p.iteration, p.ap) for p in result.curve], target_ap)))
    cells.append("-" if math.isnan(result.train_minutes) else f"{result.train_minutes:.1f}")
    if any_cut:
        cells.append(", ".join(f"seed {c.seed} at {c.reached} of {c.planned}" for c in result.cut) or "-")
    return cells


def budget_sentence(iters: int, reference_iters: Optional[int] = None, reference: str = "detr") -> str:
    """How long the runs train, with the LR drop of each budget."""
    def budget(n):
        return f"{n} iterations, LR x0.1 after iteration {round(LR_DROP_AT * n)}"
    if not reference_iters or reference_iters == iters:
        return f"every run {budget(iters)}"
    return f"{reference} (the reference) {budget(reference_iters)}; the other methods {budget(iters)}"


def legend(description: str, budget: str, eval_every: int, cost: str = "") -> str:
    """The lines under the table that say how to read it (``budget``: budget_sentence; ``cost``: Cost.sentence)."""
    return (f"Regime: {description}; {budget}; COCO bbox AP on the validation set every {eval_every} iterations. "
            "AP values are the mean over the listed seeds; \"± h\" is half the range ((max - min) / 2; with 2 "
            "seeds each lies at mean ± h). Iterations to reach an AP are read from an AP-vs-iteration curve "
            "(which starts at 0 AP at iteration 0) by linear interpolation between evaluation points. "
            "\"iters to DETR's final AP\" and \"speed-up\" are read per pair of seeds (every DETR seed i with "
            "every seed j of the method): the iterations seed j needs to reach seed i's final AP, and speed-up = "
            "(iterations DETR seed i needs to reach its own final AP) / (that); the cells give the mean over the "
            "pairs ± half their range; \"(k of n seed pairs never)\": pairs left out because seed j never "
            "reached seed i's final AP; \"never (x)\": the method ends at mean AP x without reaching any "
            "(\"not yet\" in a cut row). "
            "\"ΔAP vs DETR @N\": the equal-iteration comparison, the method's mean AP minus DETR's at N "
            "iterations (the shortest budget in the table). \"train min\": training time Detectron2 logged, "
            "evaluations excluded, mean over seeds. \"(cut)\": no run of the method finished its budget, the row "
            "shows the cut runs up to their last evaluation; \"cut by the budget\": runs stopped before their "
            "last iteration (rerun the command to resume them), not counted in the row. " + cost + "\n")

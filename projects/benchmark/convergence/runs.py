"""The runs of a convergence benchmark: their folders, their budgets, their state and cost on disk."""
import os
import re
from pathlib import Path
from typing import Iterable, List, NamedTuple, Optional, Sequence

import yaml

from projects.benchmark.convergence.curves import ApPoint, read_ap_curve

# Every paper drops the learning rate once, at about 80% of its schedule (DETR: epoch 400 of 500;
# Deformable DETR, Conditional DETR, SMCA: epoch 40 of 50); the benchmark does the same.
LR_DROP_AT = 0.8
# Detectron2's IterationTimer, once per launch: "Total training time: [N day(s), ]H:MM:SS (H:MM:SS on hooks)";
# the hooks' time is mostly the periodic evaluations (and checkpoints)
TRAINING_TIME = re.compile(r"Total training time: (?:(\d+) days?, )?(\d+):(\d+):(\d+) "
                           r"\((?:(\d+) days?, )?(\d+):(\d+):(\d+) on hooks\)")
THREADS_FILE = "threads.txt"  # the OMP_NUM_THREADS a run was launched with, written by the tool


class Run(NamedTuple):
    """One training run of the benchmark: ``<output_root>/<regime>/<method>/seed<seed>``, trained for
    ``iters`` iterations."""
    method: str
    seed: int
    output_dir: Path
    iters: int

    @property
    def metrics_file(self) -> Path:
        return self.output_dir / "metrics.json"

    def curve(self, eval_every: int) -> List[ApPoint]:
        """The run's evaluations so far (read_ap_curve on its metrics.json)."""
        return read_ap_curve(self.metrics_file, self.iters, eval_every)


def plan_runs(regime_root, methods: Sequence[str], seeds: Sequence[int], seeded_methods: Iterable[str], iters: int,
              reference: Optional[str] = None, reference_iters: Optional[int] = None) -> List[Run]:
    """Every seed for the methods in ``seeded_methods``, the first seed for the others, in method order;
    ``reference`` trains ``reference_iters`` iterations (when given), every other method ``iters``."""
    seeded = set(seeded_methods)
    return [Run(method, seed, Path(regime_root) / method / f"seed{seed}",
                reference_iters if method == reference and reference_iters else iters)
            for method in methods for seed in (seeds if method in seeded else seeds[:1])]


def budget_overrides(iters: int, eval_every: int, seed: int, output_dir) -> List[str]:
    """The config overrides a run of ``iters`` iterations trains with (train_net.py's trailing opts)."""
    return ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({round(LR_DROP_AT * iters)},)",
            "TEST.EVAL_PERIOD", str(eval_every), "SOLVER.CHECKPOINT_PERIOD", str(eval_every),
            "SEED", str(seed), "OUTPUT_DIR", str(output_dir)]


def run_state(run: Run, eval_every: int) -> str:
    """"cached" (the final evaluation is in metrics.json), "resume" (a checkpoint to continue from),
    or "start"."""
    curve = run.curve(eval_every)
    if curve and curve[-1].iteration == run.iters:
        return "cached"
    return "resume" if (run.output_dir / "last_checkpoint").is_file() else "start"


def check_same_budget(run: Run, eval_every: int) -> None:
    """Fail when the run's folder holds a run with another MAX_ITER or EVAL_PERIOD (its curve would be
    misread, and resuming it would mix two schedules)."""
    config_file = run.output_dir / "config.yaml"
    if not config_file.is_file():
        return
    config = yaml.safe_load(config_file.read_text())
    found = (config["SOLVER"]["MAX_ITER"], config["TEST"]["EVAL_PERIOD"])
    if found != (run.iters, eval_every):
        raise ValueError(f"{run.output_dir} holds a run with SOLVER.MAX_ITER {found[0]} and TEST.EVAL_PERIOD "
                         f"{found[1]}, not the {run.iters} iterations (--iters, or --reference-iters for the "
                         f"reference) and --eval-every {eval_every} planned; choose another --output-root or "
                         "delete that folder")


def logged_minutes(run: Run):
    """(total, hooks): the minutes Detectron2 logged in the run's log.txt, summed over its launches (a
    resumed run logs one total per launch; a launch killed without Ctrl-C logs none). ``total`` is the
    launch's wall time, ``hooks`` the part spent in hooks (the evaluations, checkpoints). (nan, nan)
    when nothing is logged."""
    log = run.output_dir / "log.txt"
    found = TRAINING_TIME.findall(log.read_text()) if log.is_file() else []
    if not found:
        return float("nan"), float("nan")
    total = sum(_minutes(*groups[:4]) for groups in found)
    return total, sum(_minutes(*groups[4:]) for groups in found)


def _minutes(days: str, hours: str, minutes: str, seconds: str) -> float:
    return (int(days or 0) * 24 + int(hours)) * 60 + int(minutes) + int(seconds) / 60


def training_minutes(run: Run) -> float:
    """Training time (the hooks, mostly evaluations, excluded) logged in the run's log.txt; NaN if none."""
    total, hooks = logged_minutes(run)
    return total - hooks


def record_threads(run: Run, environ=os.environ) -> None:
    """Write the OMP_NUM_THREADS a launch of ``run`` gets ("unset" when the launcher leaves it to torch)."""
    run.output_dir.mkdir(parents=True, exist_ok=True)
    (run.output_dir / THREADS_FILE).write_text(environ.get("OMP_NUM_THREADS", "unset") + "\n")


def recorded_threads(run: Run) -> Optional[int]:
    """The thread count the run was (last) launched with, None when unknown."""
    path = run.output_dir / THREADS_FILE
    value = path.read_text().strip() if path.is_file() else ""
    return int(value) if value.isdigit() else None


def prune_checkpoints(run: Run) -> List[Path]:
    """Delete a finished run's periodic checkpoints (model_<iteration>.pth, only needed to resume; each
    holds the weights and the optimizer state); model_final.pth stays. Returns the deleted paths."""
    periodic = sorted(run.output_dir.glob("model_[0-9][0-9][0-9][0-9][0-9][0-9][0-9].pth"))
    for path in periodic:
        path.unlink()
    return periodic

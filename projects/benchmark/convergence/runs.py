"""The runs of a convergence benchmark: their folders, their common budget, their state on disk."""
import re
from pathlib import Path
from typing import Iterable, List, NamedTuple, Sequence

import yaml

from projects.benchmark.convergence.curves import read_ap_curve

# Every paper drops the learning rate once, at about 80% of its schedule (DETR: epoch 400 of 500;
# Deformable DETR, Conditional DETR, SMCA: epoch 40 of 50); the benchmark does the same.
LR_DROP_AT = 0.8
TRAINING_TIME = re.compile(r"Total training time: (\d+):(\d+):(\d+)")


class Run(NamedTuple):
    """One training run of the benchmark: ``<output_root>/<regime>/<method>/seed<seed>``."""
    method: str
    seed: int
    output_dir: Path

    @property
    def metrics_file(self) -> Path:
        return self.output_dir / "metrics.json"


def plan_runs(regime_root, methods: Sequence[str], seeds: Sequence[int], seeded_methods: Iterable[str]) -> List[Run]:
    """Every seed for the methods in ``seeded_methods``, the first seed for the others, in method order."""
    seeded = set(seeded_methods)
    return [Run(method, seed, Path(regime_root) / method / f"seed{seed}")
            for method in methods for seed in (seeds if method in seeded else seeds[:1])]


def budget_overrides(iters: int, eval_every: int, seed: int, output_dir) -> List[str]:
    """The config overrides every method of the benchmark trains with (train_net.py's trailing opts)."""
    return ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({round(LR_DROP_AT * iters)},)",
            "TEST.EVAL_PERIOD", str(eval_every), "SOLVER.CHECKPOINT_PERIOD", str(eval_every),
            "SEED", str(seed), "OUTPUT_DIR", str(output_dir)]


def run_state(run: Run, iters: int, eval_every: int) -> str:
    """"cached" (the final evaluation is in metrics.json), "resume" (a checkpoint to continue from),
    or "start"."""
    curve = read_ap_curve(run.metrics_file, iters, eval_every)
    if curve and curve[-1].iteration == iters:
        return "cached"
    return "resume" if (run.output_dir / "last_checkpoint").is_file() else "start"


def check_same_budget(run: Run, iters: int, eval_every: int) -> None:
    """Fail when the run's folder holds a run with another MAX_ITER or EVAL_PERIOD (its curve would be
    misread, and resuming it would mix two schedules)."""
    config_file = run.output_dir / "config.yaml"
    if not config_file.is_file():
        return
    config = yaml.safe_load(config_file.read_text())
    found = (config["SOLVER"]["MAX_ITER"], config["TEST"]["EVAL_PERIOD"])
    if found != (iters, eval_every):
        raise ValueError(f"{run.output_dir} holds a run with SOLVER.MAX_ITER {found[0]} and TEST.EVAL_PERIOD "
                         f"{found[1]}, not --iters {iters} --eval-every {eval_every}; choose another "
                         "--output-root or delete that folder")


def training_minutes(run: Run) -> float:
    """Training time (evaluation excluded) that Detectron2 logged in the run's log.txt, summed over its
    launches (a resumed run logs one total per launch); NaN when none is logged."""
    log = run.output_dir / "log.txt"
    found = TRAINING_TIME.findall(log.read_text()) if log.is_file() else []
    if not found:
        return float("nan")
    return sum(int(h) * 60 + int(m) + int(s) / 60 for h, m, s in found)


def prune_checkpoints(run: Run) -> List[Path]:
    """Delete a finished run's periodic checkpoints (model_<iteration>.pth, only needed to resume; each
    holds the weights and the optimizer state); model_final.pth stays. Returns the deleted paths."""
    periodic = sorted(run.output_dir.glob("model_[0-9][0-9][0-9][0-9][0-9][0-9][0-9].pth"))
    for path in periodic:
        path.unlink()
    return periodic

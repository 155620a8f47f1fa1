"""The convergence benchmark's logic (tools/benchmarks/convergence.py is its command line).

* ``regimes``: the two regimes' config folders and the methods each holds (discovered, not listed);
* ``runs``: which (method, seed) runs a benchmark holds, their folders, the common budget
  overrides, whether a run is finished, to be resumed or to be started, its logged training time,
  and the clean-up of its periodic checkpoints once it is finished;
* ``curves``: the AP-vs-iteration curve of a run (from Detectron2's metrics.json) and the mean
  curve over seeds with its spread;
* ``speedup``: iterations to reach an AP, read from a curve by linear interpolation, and the
  papers' speed-up measure;
* ``table``: the Markdown results table; ``plot``: the AP-vs-iteration PNG;
* ``progress``: the benchmark's ETA from the measured run times.
"""
from projects.benchmark.convergence.curves import ApPoint, MeanPoint, mean_curve, read_ap_curve
from projects.benchmark.convergence.plot import plot_ap_vs_iteration
from projects.benchmark.convergence.progress import EtaClock
from projects.benchmark.convergence.regimes import REGIMES, discover_methods, regime_config
from projects.benchmark.convergence.runs import (LR_DROP_AT, Run, budget_overrides, check_same_budget, plan_runs, prune_checkpoints, run_state,
                   training_minutes)
from projects.benchmark.convergence.speedup import iterations_to_reach, speed_up
from projects.benchmark.convergence.table import MethodResult, legend, markdown_table

__all__ = ["ApPoint", "MeanPoint", "mean_curve", "read_ap_curve", "plot_ap_vs_iteration", "EtaClock", "REGIMES",
           "discover_methods", "regime_config", "LR_DROP_AT",
           "Run", "budget_overrides", "check_same_budget", "plan_runs", "prune_checkpoints", "run_state",
           "training_minutes", "iterations_to_reach", "speed_up", "MethodResult", "legend", "markdown_table"]

"""The convergence benchmark's logic (tools/benchmarks/convergence.py is its command line).

* ``regimes``: the regimes' config folders and the methods each holds (discovered, not listed: a
  method is a config; main jobs are not methods), the reference method;
* ``runs``: which (method, seed) runs a benchmark holds, their folders and iteration budgets (the
  reference may train longer), the budget overrides, whether a run is finished, to be resumed or to
  be started, its logged training time and thread count, and the clean-up of its periodic
  checkpoints once it is finished;
* ``cost``: the wall hours and CPU hours the runs on disk took;
* ``curves``: the AP-vs-iteration curve of a run (from Detectron2's metrics.json) and the mean
  curve over seeds with its spread;
* ``speedup``: iterations to reach an AP, read from a curve by linear interpolation, the papers'
  speed-up measure, and both per pair of seeds;
* ``table``: the Markdown results table and its legend; ``plot``: the AP-vs-iteration PNG;
* ``progress``: the benchmark's ETA from the measured run times.
"""
from projects.benchmark.convergence.cost import Cost, benchmark_cost
from projects.benchmark.convergence.curves import ApPoint, MeanPoint, mean_curve, read_ap_curve
from projects.benchmark.convergence.plot import plot_ap_vs_iteration
from projects.benchmark.convergence.progress import EtaClock
from projects.benchmark.convergence.regimes import REFERENCE, REGIMES, discover_methods, is_main_job, regime_config
from projects.benchmark.convergence.runs import (LR_DROP_AT, Run, budget_overrides, check_same_budget, logged_minutes,
                                                 plan_runs, prune_checkpoints, record_threads, recorded_threads,
                                                 run_state, training_minutes)
from projects.benchmark.convergence.speedup import iterations_to_reach, seed_pairs, speed_up
from projects.benchmark.convergence.table import (CutRun, MethodResult, budget_sentence, equal_iteration_point, legend,
                                                  markdown_table)

__all__ = ["Cost", "benchmark_cost", "ApPoint", "MeanPoint", "mean_curve", "read_ap_curve", "plot_ap_vs_iteration",
           "EtaClock", "REFERENCE", "REGIMES", "discover_methods", "is_main_job", "regime_config", "LR_DROP_AT", "Run",
           "budget_overrides", "check_same_budget", "logged_minutes", "plan_runs", "prune_checkpoints",
           "record_threads", "recorded_threads", "run_state", "training_minutes", "iterations_to_reach", "seed_pairs",
           "speed_up", "CutRun", "MethodResult", "budget_sentence", "equal_iteration_point", "legend",
           "markdown_table"]

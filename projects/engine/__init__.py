"""Training and evaluation with Detectron2's engine.

trainer        ``Trainer`` (a DefaultTrainer for the DETR family), dataset checks, project loggers
amp            mixed precision (SOLVER.AMP) with the explicit unscale before clipping
ema            moving average of the weights (MODEL_EMA)
finite_checks  stop at the first non-finite prediction or loss, on every rank at once
divergence     SOLVER.DIVERGENCE: stop when the loss stays far above its running median
one_line_errors  the project's errors end a command with one ``error: ...`` line (train_net.py, tools)
run_summary    the last lines of a run: outputs, recall at the adopted threshold, next commands
interrupt      Ctrl-C stops after the current step; the trainer saves model_interrupted.pth
solver         the official optimizer groups and full-model gradient clipping
curves         OUTPUT_DIR/training_curves.png from metrics.json
compile        MODEL.COMPILE: torch.compile of the model's tensor core
launch         what train_net.py runs: setup(args), train(cfg), evaluate(cfg) (--eval-only), register_datasets

Public names: Trainer, check_config_against_datasets, setup_project_loggers, build_detr_optimizer.
"""
from projects.engine.solver import build_detr_optimizer
from projects.engine.trainer import Trainer, check_config_against_datasets, setup_project_loggers

__all__ = ["Trainer", "build_detr_optimizer", "check_config_against_datasets", "setup_project_loggers"]

"""What a command does with a config: the setup of a process, training, and ``--eval-only``.

train_net.py is these calls (Detectron2's tools/train_net.py pattern), in every process of
``launch_with_one_line_errors`` (``projects.engine.one_line_errors``)::

    cfg = setup(args)                      # load_config + default_setup + loggers + datasets
    evaluate(cfg, resume) or train(cfg, resume)
    log_summary(cfg, args, started)        # the main process: outputs, recall, next commands

Problems of the config, its files or the weights end as the project's one-line errors
(``load_command_config``: ConfigError; ``check_weights_file``). The tools use ``register_datasets``
after ``projects.config.load_config``.
"""
import os

from detectron2.engine import default_setup
from detectron2.evaluation import verify_results
from detectron2.utils import comm

from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.data import EMBEDDED_DATASET_NAMES, register_embedded_dataset
from projects.engine.compile import compile_if_configured
from projects.engine.ema import load_ema_for_eval
from projects.engine.one_line_errors import fold_project_error_tracebacks, load_command_config
from projects.engine.run_summary import log_run_summary
from projects.engine.trainer import Trainer, check_config_against_datasets, setup_project_loggers
from projects.pretrain import register_embedded_trunk_handler
from projects.utils.errors import ConfigError


def register_datasets(cfg) -> None:
    """Register what ``cfg`` names that Detectron2 does not register itself: the embedded dataset
    (when DATASETS.TRAIN or TEST names it) and the ``embedded-trunk://`` MODEL.WEIGHTS handler."""
    if set(EMBEDDED_DATASET_NAMES.values()) & set(cfg.DATASETS.TRAIN + cfg.DATASETS.TEST):
        register_embedded_dataset()
    register_embedded_trunk_handler()  # MODEL.WEIGHTS "embedded-trunk://R-18.pkl": the cached pretrained trunk


def check_weights_file(cfg, resume: bool = False) -> None:
    """ConfigError when MODEL.WEIGHTS is a local path with no file, unless ``resume`` continues from
    OUTPUT_DIR's last checkpoint instead (fvcore would stop with "AssertionError: Checkpoint ... not
    found!"). Paths with a scheme (``detectron2://``, ``embedded-trunk://``) are left to their handlers."""
    weights = cfg.MODEL.WEIGHTS
    if not weights or "://" in weights or os.path.exists(weights):
        return
    if resume and os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "last_checkpoint")):
        return
    raise ConfigError(f"MODEL.WEIGHTS {weights}: no such file; give a checkpoint path (e.g. OUTPUT_DIR/model_final.pth "
                      f"of a training run), or MODEL.WEIGHTS \"\" to start from random weights")


def setup(args):
    """The frozen config of ``args.config_file`` + ``args.opts`` for any registered method, with
    Detectron2's process setup (OUTPUT_DIR, config dump, seed), the project's loggers and datasets.
    A bad file, key, value or MODEL.WEIGHTS path raises ConfigError before anything is written."""
    cfg = load_command_config(args.config_file, args.opts)
    check_weights_file(cfg, args.resume)
    default_setup(cfg, args)
    setup_project_loggers(cfg.OUTPUT_DIR)
    fold_project_error_tracebacks()
    register_datasets(cfg)
    return cfg


def evaluate(cfg, resume: bool = False):
    """``--eval-only``: load MODEL.WEIGHTS (or, with ``resume``, OUTPUT_DIR's last checkpoint), take
    its moving average when MODEL_EMA.USE_FOR_EVAL, and evaluate on DATASETS.TEST; returns the results."""
    check_config_against_datasets(cfg, cfg.DATASETS.TEST)
    model = Trainer.build_model(cfg)
    checkpoint = DetrCheckpointer.from_config(cfg, model).resume_or_load(cfg.MODEL.WEIGHTS, resume=resume)
    load_ema_for_eval(cfg, model, checkpoint)
    results = Trainer.test(cfg, compile_if_configured(model, cfg))
    if comm.is_main_process():
        verify_results(cfg, results)
    return results


def train(cfg, resume: bool = False):
    """Train ``cfg`` from MODEL.WEIGHTS, or with ``resume`` continue from OUTPUT_DIR's last checkpoint."""
    trainer = Trainer(cfg)
    compile_if_configured(trainer.model_without_ddp, cfg)  # MODEL.COMPILE, after the EMA copy is made
    trainer.resume_or_load(resume=resume)
    return trainer.train()


def run_weights(cfg, args) -> str:
    """The checkpoint a run produced or evaluated: OUTPUT_DIR/model_final.pth after training; with
    ``--eval-only`` MODEL.WEIGHTS, or OUTPUT_DIR's last checkpoint with ``--resume``."""
    if not args.eval_only:
        return os.path.join(cfg.OUTPUT_DIR, "model_final.pth")
    last = os.path.join(cfg.OUTPUT_DIR, "last_checkpoint")
    if args.resume and os.path.isfile(last):
        with open(last) as file:
            return os.path.join(cfg.OUTPUT_DIR, file.read().strip())
    return cfg.MODEL.WEIGHTS


def log_summary(cfg, args, since: float) -> None:
    """The main process logs the run's last lines (``projects.engine.run_summary``): its outputs, the
    recall at the adopted score threshold and the demo and recall commands; ``since``: the start time."""
    if comm.is_main_process():
        log_run_summary(cfg, args.config_file, args.opts, run_weights(cfg, args), since)

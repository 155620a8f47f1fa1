"""What a command does with a config: the setup of a process, training, and ``--eval-only``.

train_net.py is these three calls (Detectron2's tools/train_net.py pattern)::

    cfg = setup(args)                      # load_config + default_setup + loggers + datasets
    evaluate(cfg, resume) or train(cfg, resume)

The tools use ``register_datasets`` after ``projects.config.load_config``.
"""
from detectron2.engine import default_setup
from detectron2.evaluation import verify_results
from detectron2.utils import comm

from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.config import load_config
from projects.data import EMBEDDED_DATASET_NAMES, register_embedded_dataset
from projects.engine.compile import compile_if_configured
from projects.engine.ema import load_ema_for_eval
from projects.engine.trainer import Trainer, check_config_against_datasets, setup_project_loggers
from projects.pretrain import register_embedded_trunk_handler


def register_datasets(cfg) -> None:
    """Register what ``cfg`` names that Detectron2 does not register itself: the embedded dataset
    (when DATASETS.TRAIN or TEST names it) and the ``embedded-trunk://`` MODEL.WEIGHTS handler."""
    if set(EMBEDDED_DATASET_NAMES.values()) & set(cfg.DATASETS.TRAIN + cfg.DATASETS.TEST):
        register_embedded_dataset()
    register_embedded_trunk_handler()  # MODEL.WEIGHTS "embedded-trunk://R-18.pkl": the cached pretrained trunk


def setup(args):
    """The frozen config of ``args.config_file`` + ``args.opts`` for any registered method, with
    Detectron2's process setup (OUTPUT_DIR, config dump, seed), the project's loggers and datasets."""
    cfg = load_config(args.config_file, args.opts)
    default_setup(cfg, args)
    setup_project_loggers(cfg.OUTPUT_DIR)
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

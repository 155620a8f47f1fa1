#!/usr/bin/env python
"""Train or evaluate any DETR-family model of this project with Detectron2.

    python train_net.py --config-file configs/quickstart/detr_embedded.yaml
    python train_net.py --config-file configs/detr/detr_r50_300ep.yaml --num-gpus 8
    python train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth
    python train_net.py --config-file ... --resume          # continue from OUTPUT_DIR/last_checkpoint
"""
import logging
import sys

from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results
from detectron2.utils import comm

from conditional_detr import add_conditional_detr_config
from deformable_detr import add_deformable_detr_config
from projects import add_detr_config
from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.data import EMBEDDED_DATASET_NAMES, register_embedded_dataset
from projects.deploy.compile import compile_if_configured
from projects.engine.ema import load_ema_for_eval
from projects.engine.trainer import Trainer, check_config_against_datasets, setup_project_loggers
from projects.pretrain import register_embedded_trunk_handler
from smca import add_smca_config

METHOD_CONFIGS = [add_detr_config, add_deformable_detr_config, add_conditional_detr_config, add_smca_config]


def load_config(config_file, opts=()):
    """The frozen config of any method: the defaults of every method, the file, the overrides.
    Also used by tools/ (with ``register_datasets``)."""
    cfg = get_cfg()
    for add_config in METHOD_CONFIGS:
        add_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


def register_datasets(cfg):
    """Register the project's own datasets that ``cfg`` names (Detectron2 registers COCO itself)."""
    if set(EMBEDDED_DATASET_NAMES.values()) & set(cfg.DATASETS.TRAIN + cfg.DATASETS.TEST):
        register_embedded_dataset()
    register_embedded_trunk_handler()  # MODEL.WEIGHTS "embedded-trunk://R-18.pkl": the cached pretrained trunk


def setup(args):
    """Build the frozen config from the defaults of every method, the file and the overrides."""
    cfg = load_config(args.config_file, args.opts)
    default_setup(cfg, args)
    setup_project_loggers(cfg.OUTPUT_DIR)
    register_datasets(cfg)
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        check_config_against_datasets(cfg, cfg.DATASETS.TEST)
        model = Trainer.build_model(cfg)
        checkpoint = DetrCheckpointer.from_config(cfg, model).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        load_ema_for_eval(cfg, model, checkpoint)  # MODEL_EMA.USE_FOR_EVAL: the averaged weights
        results = Trainer.test(cfg, compile_if_configured(model, cfg))
        if comm.is_main_process():
            verify_results(cfg, results)
        return results
    trainer = Trainer(cfg)
    compile_if_configured(trainer.model_without_ddp, cfg)  # MODEL.COMPILE (after the EMA copy is made)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    arguments = default_argument_parser().parse_args()
    logging.getLogger(__name__).info("Command line arguments: %s", arguments)
    try:
        launch(main, arguments.num_gpus, num_machines=arguments.num_machines, machine_rank=arguments.machine_rank,
               dist_url=arguments.dist_url, args=(arguments,))
    except KeyboardInterrupt:  # the trainer has saved model_interrupted.pth (see projects/engine/trainer.py)
        print("Interrupted: progress saved in OUTPUT_DIR; rerun with --resume to continue.", file=sys.stderr)
        sys.exit(130)

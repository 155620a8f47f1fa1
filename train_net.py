#!/usr/bin/env python
"""Train or evaluate any DETR-family model of this project with Detectron2.

    python train_net.py --config-file configs/quickstart/detr_embedded.yaml
    python train_net.py --config-file configs/detr/detr_r50_300ep.yaml --num-gpus 8
    python train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth
    python train_net.py --config-file ... --resume          # continue from OUTPUT_DIR/last_checkpoint

A problem of the config, the data, the weights or a diverging training ends with one ``error: ...``
line naming the fix (exit status 1); ``--debug`` (or DETR_FAMILY_DEBUG=1) shows the traceback.
The methods are the installed ones (projects.registry); the work is in projects/engine/launch.py.
"""
# projects first: importing it imports Detectron2 without its import-time deprecation warnings
from projects.engine.launch import evaluate, log_summary, setup, train  # isort: skip
from projects.engine.one_line_errors import launch_with_one_line_errors  # isort: skip

import logging
import os
import sys
import time

from detectron2.engine import default_argument_parser

from projects.utils.errors import DEBUG_ENV


def main(args):
    started = time.time()
    cfg = setup(args)
    results = evaluate(cfg, resume=args.resume) if args.eval_only else train(cfg, resume=args.resume)
    log_summary(cfg, args, started)
    return results


def parse_args():
    parser = default_argument_parser()
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of the project's own errors (same as {DEBUG_ENV}=1)")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.debug:
        os.environ[DEBUG_ENV] = "1"  # the launched processes inherit it
    logging.getLogger(__name__).info("Command line arguments: %s", arguments)
    try:
        launch_with_one_line_errors(main, arguments)
    except KeyboardInterrupt:  # the trainer has saved model_interrupted.pth (see projects/engine/trainer.py)
        print("Interrupted: progress saved in OUTPUT_DIR; rerun with --resume to continue.", file=sys.stderr)
        sys.exit(130)

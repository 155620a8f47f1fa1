#!/usr/bin/env python
"""Train or evaluate any DETR-family model of this project with Detectron2.

    python train_net.py --config-file configs/quickstart/detr_embedded.yaml
    python train_net.py --config-file configs/detr/detr_r50_300ep.yaml --num-gpus 8
    python train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth
    python train_net.py --config-file ... --resume          # continue from OUTPUT_DIR/last_checkpoint

The methods are the installed ones (projects.registry); the work is in projects/engine/launch.py.
"""
import logging
import sys

from detectron2.engine import default_argument_parser, launch

from projects.engine.launch import evaluate, setup, train


def main(args):
    cfg = setup(args)
    if args.eval_only:
        return evaluate(cfg, resume=args.resume)
    return train(cfg, resume=args.resume)


if __name__ == "__main__":
    arguments = default_argument_parser().parse_args()
    logging.getLogger(__name__).info("Command line arguments: %s", arguments)
    try:
        launch(main, arguments.num_gpus, num_machines=arguments.num_machines, machine_rank=arguments.machine_rank,
               dist_url=arguments.dist_url, args=(arguments,))
    except KeyboardInterrupt:  # the trainer has saved model_interrupted.pth (see projects/engine/trainer.py)
        print("Interrupted: progress saved in OUTPUT_DIR; rerun with --resume to continue.", file=sys.stderr)
        sys.exit(130)

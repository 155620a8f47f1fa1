#!/usr/bin/env python
"""Pretrain the embedded detectors' ResNet trunk on shape presence in windows of embedded_shapes_train.

The stand-in for ImageNet weights in the embedded regime (it is not ImageNet): a classification
task derived from the embedded training split only. Writes a Detectron2 weights file that
MODEL.WEIGHTS loads like the full-size configs' R-50.pkl; by default into the cache that the
configs' ``embedded-trunk://R-18.pkl`` points at, where a second run reuses it.

    .venv/bin/python tools/pretrain_backbone.py                    # make (or reuse) the cached R-18 trunk
    .venv/bin/python tools/pretrain_backbone.py --steps 50 --output /tmp/trunk.pkl --force
"""
# projects first: importing it imports Detectron2 without its import-time deprecation warnings
import projects  # noqa: F401  isort: skip
import argparse
import logging
import time
from pathlib import Path

import torch

from detectron2.utils.logger import setup_logger

from projects.engine.one_line_errors import exit_on_errors
from projects.pretrain import PretrainSettings, default_trunk_path, make_trunk
from projects.pretrain.trunk_file import stored_pretraining


def parse_args(argv=None):
    defaults = PretrainSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=defaults.depth, choices=(18, 34, 50))
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--crop", type=int, default=defaults.crop, help="window side in pixels")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--output", help="weights file to write (default: the embedded-trunk cache)")
    parser.add_argument("--force", action="store_true", help="pretrain again even if the file was made with these settings")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return parser.parse_args(argv)


@exit_on_errors()
def main(argv=None):
    args = parse_args(argv)
    setup_logger(name="projects")
    logging.getLogger("projects").setLevel(logging.INFO)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = PretrainSettings(depth=args.depth, steps=args.steps, batch_size=args.batch_size, crop=args.crop,
                                lr=args.lr, seed=args.seed)
    output = Path(args.output) if args.output else default_trunk_path(args.depth)
    start = time.time()
    path = make_trunk(output, settings, force=args.force)
    record = stored_pretraining(path)
    print(f"trunk: {path} ({time.time() - start:.0f} s)")
    print(f"presence accuracy on embedded_shapes_val windows: {record.get('val_presence')}")


if __name__ == "__main__":
    main()

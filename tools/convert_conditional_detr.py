#!/usr/bin/env python
"""Convert an official Conditional DETR checkpoint (Atten4Vis/ConditionalDETR) for Detectron2.

    python tools/convert_conditional_detr.py ConditionalDETR_r50_epoch50.pth conditional_detr_r50.pth \
        --config-file configs/conditional_detr/conditional_detr_r50_50ep.yaml
    python train_net.py --config-file configs/conditional_detr/conditional_detr_r50_50ep.yaml \
        --eval-only MODEL.WEIGHTS conditional_detr_r50.pth

The output is ``{"model": state_dict}`` in this project's parameter names. By default the official
91-logit head (one row per COCO category id) is reduced to Detectron2's 80 contiguous COCO classes, which
the configs under configs/conditional_detr/ (NUM_CLASSES 80) expect; ``--keep-coco-ids`` keeps all 91
(then set MODEL.DETR.NUM_CLASSES 91 and use a dataset with raw COCO ids). ``--config-file`` (optional) builds that
config's model and checks that the converted weights fill it exactly.
"""
import argparse
import logging
import sys
from pathlib import Path

import torch

try:
    import conditional_detr  # noqa: F401  (installed with ``pip install -e .``)
except ImportError:  # running from a plain clone: the packages live next to tools/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conditional_detr import NotConditionalDETRError, add_conditional_detr_config, convert_conditional_detr_state_dict
from projects.checkpoint import ConversionError, check_against_config, load_cpu_config, load_official_checkpoint

logger = logging.getLogger("convert_conditional_detr")


def convert_checkpoint(source, coco_to_contiguous=False):
    """Read an official checkpoint file and return its state dict in this project's names."""
    return convert_conditional_detr_state_dict(load_official_checkpoint(source), coco_to_contiguous)


def save_checkpoint(converted, destination):
    """Write ``{"model": state_dict}``, the layout Detectron2's checkpointer loads as-is."""
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": converted}, destination)
    logger.info("Wrote %d tensors to %s", len(converted), destination)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="official checkpoint (.pth holding {'model': state_dict} or a state dict)")
    parser.add_argument("destination", help="output .pth for MODEL.WEIGHTS")
    parser.add_argument("--keep-coco-ids", action="store_true",
                        help="keep the 91-logit COCO-id head (default: reduce it to Detectron2's 80 classes)")
    parser.add_argument("--config-file", help="check the result against this config's model")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE",
                        help="config overrides for --config-file, e.g. --opts MODEL.DETR.NUM_CLASSES 91")
    return parser, parser.parse_args(argv)


def main(argv=None):
    """Convert, optionally verify against a config, then write; returns the converted state dict."""
    parser, args = parse_args(argv)
    try:
        converted = convert_checkpoint(args.source, coco_to_contiguous=not args.keep_coco_ids)
    except NotConditionalDETRError as error:
        parser.error(f"{args.source}: {error}")
    if args.config_file:
        try:
            check_against_config(converted, load_cpu_config(add_conditional_detr_config, args.config_file, args.opts))
        except ConversionError as error:
            parser.error(f"the converted weights do not fit the model of {args.config_file}: {error}")
        logger.info("The converted weights fill the model of %s exactly", args.config_file)
    save_checkpoint(converted, args.destination)
    return converted


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    main()

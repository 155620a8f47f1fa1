#!/usr/bin/env python
"""Convert an official Conditional DETR checkpoint (Atten4Vis/ConditionalDETR) for Detectron2.

    python tools/convert_conditional_detr.py ConditionalDETR_r50_epoch50.pth conditional_detr_r50.pth --coco-80 \
        --config-file configs/conditional_detr/conditional_detr_r50_50ep.yaml
    python train_net.py --config-file configs/conditional_detr/conditional_detr_r50_50ep.yaml \
        --eval-only MODEL.WEIGHTS conditional_detr_r50.pth

The output is ``{"model": state_dict}`` in this project's parameter names. ``--coco-80`` reduces the
official 91-logit head (one row per COCO category id) to Detectron2's 80 contiguous COCO classes, which
the configs under configs/conditional_detr/ (NUM_CLASSES 80) expect; without it, set
MODEL.DETR.NUM_CLASSES 91 and use a dataset with raw COCO ids. ``--config-file`` (optional) builds that
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
from projects.checkpoint import ConversionError, check_conversion, load_official_checkpoint

logger = logging.getLogger("convert_conditional_detr")


def convert_checkpoint(source, coco_to_contiguous=False):
    """Read an official checkpoint file and return its state dict in this project's names."""
    return convert_conditional_detr_state_dict(load_official_checkpoint(source), coco_to_contiguous)


def save_checkpoint(converted, destination):
    """Write ``{"model": state_dict}``, the layout Detectron2's checkpointer loads as-is."""
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": converted}, destination)
    logger.info("Wrote %d tensors to %s", len(converted), destination)


def verify_against_config(converted, config_file, opts=()):
    """Build the config's model (CPU) and raise ConversionError unless ``converted`` fills it exactly."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    cfg = get_cfg()
    add_conditional_detr_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts) + ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    check_conversion(build_model(cfg).state_dict(), converted)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="official checkpoint (.pth holding {'model': state_dict} or a state dict)")
    parser.add_argument("destination", help="output .pth for MODEL.WEIGHTS")
    parser.add_argument("--coco-80", action="store_true",
                        help="reduce the 91-logit COCO-id head to Detectron2's 80 contiguous COCO classes")
    parser.add_argument("--config-file", help="check the result against this config's model")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE",
                        help="config overrides for --config-file, e.g. --opts MODEL.DETR.NUM_CLASSES 91")
    return parser, parser.parse_args(argv)


def main(argv=None):
    """Convert, optionally verify against a config, then write; returns the converted state dict."""
    parser, args = parse_args(argv)
    try:
        converted = convert_checkpoint(args.source, args.coco_80)
    except NotConditionalDETRError as error:
        parser.error(f"{args.source}: {error}")
    if args.config_file:
        try:
            verify_against_config(converted, args.config_file, args.opts)
        except ConversionError as error:
            parser.error(f"the converted weights do not fit the model of {args.config_file}: {error}")
        logger.info("The converted weights fill the model of %s exactly", args.config_file)
    save_checkpoint(converted, args.destination)
    return converted


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    main()

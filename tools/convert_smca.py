#!/usr/bin/env python
"""Convert an official single-scale SMCA checkpoint (gaopengcuhk/SMCA-DETR, top-level ``models/``) into a
Detectron2 checkpoint for ``train_net.py --eval-only MODEL.WEIGHTS <output>``.

    python tools/convert_smca.py smca_official.pth output/smca_single_scale_r50_d2.pth \\
        --config-file configs/smca/smca_single_scale_r50_50ep.yaml
    python train_net.py --config-file configs/smca/smca_single_scale_r50_50ep.yaml \\
        --eval-only MODEL.WEIGHTS output/smca_single_scale_r50_d2.pth

The output is ``{"model": state_dict}`` in this project's parameter names. By default the official
92-column sigmoid head (COCO category ids 0..90 + the never-positive DETR no-object column) is reduced to
Detectron2's 80 contiguous COCO classes, which the configs under configs/smca/ (NUM_CLASSES 80) expect;
``--keep-coco-ids`` keeps all 92 columns (then set MODEL.DETR.NUM_CLASSES 92). The scale variant
(official --dynamic_scale type1/2/3 = MODEL.SMCA.SCALE_MODE fixed/single/independent), query count and
layer counts are read off the checkpoint and printed; ``--config-file`` (optional) builds that config's
model and checks that the converted weights fill it exactly before anything is written.
The official multi-scale archive's checkpoints have a different architecture and are refused.
"""
import argparse
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from projects.checkpoint import ConversionError, check_against_config, load_cpu_config, load_official_checkpoint  # noqa: E402
from smca import add_smca_config, convert_smca_state_dict, describe_official_smca  # noqa: E402
from smca.convert import NotSMCACheckpointError  # noqa: E402

logger = logging.getLogger("convert_smca")


def config_overrides(description, keep_coco_ids):
    """The config keys a model needs to take these weights, as a KEY VALUE list."""
    num_classes = description["num_classes"] if keep_coco_ids else 80
    return ["MODEL.SMCA.SCALE_MODE", description["scale_mode"], "MODEL.DETR.NUM_CLASSES", num_classes,
            "MODEL.DETR.NUM_OBJECT_QUERIES", description["num_queries"],
            "MODEL.DETR.ENC_LAYERS", description["enc_layers"], "MODEL.DETR.DEC_LAYERS", description["dec_layers"]]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="official checkpoint (.pth holding {'model': state_dict} or a state dict)")
    parser.add_argument("output", help="Detectron2 checkpoint to write (.pth)")
    parser.add_argument("--keep-coco-ids", action="store_true",
                        help="keep the 92-column COCO-id head (MODEL.DETR.NUM_CLASSES 92)")
    parser.add_argument("--config-file", help="check the result against this config's model")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE",
                        help="config overrides for --config-file, e.g. --opts MODEL.SMCA.SCALE_MODE fixed")
    return parser, parser.parse_args(argv)


def main(argv=None):
    """Convert, optionally verify against a config, then write; returns the converted state dict."""
    parser, args = parse_args(argv)
    official = load_official_checkpoint(args.source)
    try:
        description = describe_official_smca(official)
    except NotSMCACheckpointError as error:
        parser.error(f"{args.source}: {error}")
    converted = convert_smca_state_dict(official, coco_to_contiguous=not args.keep_coco_ids)
    if args.config_file:
        try:
            check_against_config(converted, load_cpu_config(add_smca_config, args.config_file, args.opts))
        except ConversionError as error:
            needed = " ".join(str(v) for v in config_overrides(description, args.keep_coco_ids))
            parser.error(f"the converted weights do not fit the model of {args.config_file} ({error}); "
                         f"this checkpoint needs: {needed}")
        logger.info("The converted weights fill the model of %s exactly", args.config_file)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": converted, "__source__": str(args.source)}, args.output)
    logger.info("Wrote %d tensors to %s; config keys for this checkpoint: %s", len(converted), args.output,
                " ".join(str(v) for v in config_overrides(description, args.keep_coco_ids)))
    return converted


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    main()

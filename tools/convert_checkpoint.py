#!/usr/bin/env python
"""Convert an official DETR-family checkpoint into a Detectron2 checkpoint for ``MODEL.WEIGHTS``.

    python tools/convert_checkpoint.py r50_deformable_detr-checkpoint.pth output/deformable_detr_r50.pth \\
        --config-file configs/deformable_detr/deformable_detr_r50_50ep.yaml
    python train_net.py --config-file configs/deformable_detr/deformable_detr_r50_50ep.yaml \\
        --eval-only MODEL.WEIGHTS output/deformable_detr_r50.pth

The method (and its variant, for methods that have several) is read off the checkpoint's keys by the
converters the installed methods register (``--method auto``, the default); naming a method checks it
instead, and a checkpoint of another family is refused with what it looks like. The file is read with
``weights_only=True`` (tensors, plain containers and the training script's argparse.Namespace only).

By default the official classifiers, indexed by COCO category id (91 rows, plus a method's own extra
row or column, e.g. a no-object row), are reduced to Detectron2's 80 contiguous COCO classes, which the configs
under configs/ expect; ``--keep-coco-ids`` keeps every row (then set MODEL.DETR.NUM_CLASSES to match and
use a dataset with raw COCO ids). ``--config-file`` builds that config's model and checks that the
converted weights fill it exactly (and, for methods with variants, that the config is the checkpoint's
variant) before anything is written.
"""
import argparse

from projects.checkpoint import (
    ConversionError, UnreadableCheckpointError, check_fits_config, convert_official_file, registered_converters,
    save_converted_checkpoint,
)
from projects.engine.one_line_errors import exit_on_errors


def convertible_methods():
    """The registered methods with an official-checkpoint converter (importing the installed method
    packages registers their converters): the names --method accepts besides "auto"."""
    return sorted(registered_converters())


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="official checkpoint (.pth holding {'model': state_dict, ...} or a state dict)")
    parser.add_argument("destination", help="Detectron2 checkpoint to write (.pth)")
    parser.add_argument("--method", default="auto", choices=["auto", *convertible_methods()],
                        help="the checkpoint's method (default: detect it from the keys)")
    parser.add_argument("--keep-coco-ids", action="store_true",
                        help="keep the COCO-id class rows (default: reduce them to Detectron2's 80 classes)")
    parser.add_argument("--config-file", help="check the result against this config's model")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], metavar="KEY VALUE",
                        help="config overrides for --config-file (must come last), e.g. --opts MODEL.DETR.NUM_CLASSES 91")
    args = parser.parse_args(argv)
    if args.opts and not args.config_file:
        parser.error("--opts overrides need --config-file")
    return args


@exit_on_errors()
def main(argv=None):
    """Convert, optionally check against a config, then write; returns the ConvertedCheckpoint.
    Any refusal exits with one line naming the file and the reason (nothing is written); the
    project's other errors (e.g. a bad --config-file) with ``error: ...``."""
    args = parse_args(argv)
    try:
        result = convert_official_file(args.source, args.method, args.keep_coco_ids)
        if args.config_file:
            check_fits_config(result, args.config_file, args.opts)
    except (ConversionError, UnreadableCheckpointError, FileNotFoundError) as error:
        message = str(error)
        raise SystemExit(message if message.startswith(str(args.source)) else f"{args.source}: {message}") from error
    save_converted_checkpoint(result.state_dict, args.destination, args.source)
    checked = f"; fills the model of {args.config_file}" if args.config_file else ""
    print(f"wrote {args.destination}: {result.summary()}{checked}")
    return result


if __name__ == "__main__":
    main()

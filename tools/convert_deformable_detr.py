#!/usr/bin/env python
"""Convert an official Deformable DETR checkpoint (fundamentalvision/Deformable-DETR, e.g.
r50_deformable_detr-checkpoint.pth) into a Detectron2 checkpoint for
``train_net.py --eval-only MODEL.WEIGHTS <output>``.

    python tools/convert_deformable_detr.py r50_deformable_detr-checkpoint.pth output/deformable_detr_r50_d2.pth \\
        --config-file configs/deformable_detr/deformable_detr_r50_50ep.yaml
    python train_net.py --config-file configs/deformable_detr/deformable_detr_r50_50ep.yaml \\
        --eval-only MODEL.WEIGHTS output/deformable_detr_r50_d2.pth

The variant (single_scale, multi_scale, box_refine, two_stage) is read off the checkpoint's keys and
must equal the one requested with ``--variant`` or implied by ``--config-file``; with a config the
converted weights are also checked to fill that model exactly before anything is written.
By default the 91-way COCO-id classifiers are reduced to Detectron2's 80 contiguous COCO classes;
``--keep-coco-ids`` keeps all 91 (then set MODEL.DETR.NUM_CLASSES 91).
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deformable_detr import PAPER_VARIANTS, add_deformable_detr_config  # noqa: E402
from deformable_detr.convert import convert_deformable_detr_state_dict, variant_from_config  # noqa: E402
from projects.checkpoint import (  # noqa: E402
    ConversionError, check_against_config, load_cpu_config, load_official_checkpoint,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="official Deformable DETR checkpoint (.pth)")
    parser.add_argument("output", help="Detectron2 checkpoint to write (.pth)")
    expected = parser.add_mutually_exclusive_group(required=True)
    expected.add_argument("--config-file", help="the config the weights are for (its variant is checked, and "
                                                "the converted weights must fill its model exactly)")
    expected.add_argument("--variant", choices=sorted(PAPER_VARIANTS), help="the expected variant (no model check)")
    parser.add_argument("--keep-coco-ids", action="store_true", help="keep the 91 COCO-id classes")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="config overrides KEY VALUE ... for --config-file (must come last)")
    return parser.parse_args(argv)


def check_against_model(cfg, converted):
    """Raise ConversionError unless ``converted`` fills the model of ``cfg`` exactly."""
    num_classes = converted["class_embed.0.weight"].shape[0]
    if num_classes != cfg.MODEL.DETR.NUM_CLASSES:
        hint = "drop --keep-coco-ids" if num_classes == 91 else "pass --keep-coco-ids"
        raise ConversionError(f"The converted head has {num_classes} classes but the config has MODEL.DETR.NUM_CLASSES "
                              f"{cfg.MODEL.DETR.NUM_CLASSES}; {hint} or change NUM_CLASSES")
    check_against_config(converted, cfg)


def main(argv=None):
    args = parse_args(argv)
    if args.opts and not args.config_file:
        raise SystemExit("--opts overrides need --config-file")
    cfg = load_cpu_config(add_deformable_detr_config, args.config_file, args.opts) if args.config_file else None
    expected = variant_from_config(cfg) if cfg is not None else PAPER_VARIANTS[args.variant]
    official = load_official_checkpoint(args.source)
    try:
        converted = convert_deformable_detr_state_dict(official, expected, coco_to_contiguous=not args.keep_coco_ids)
        if cfg is not None:
            check_against_model(cfg, converted)
    except ConversionError as error:
        raise SystemExit(f"{args.source}: {error}") from error
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": converted, "__source__": str(args.source)}, args.output)
    print(f"wrote {args.output}: Deformable DETR {expected.name}, {len(converted)} tensors, "
          f"{converted['class_embed.0.weight'].shape[0]} classes")


if __name__ == "__main__":
    main()

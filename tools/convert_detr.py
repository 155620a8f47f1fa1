#!/usr/bin/env python
"""Convert an official DETR checkpoint (facebookresearch/detr, e.g. detr-r50-e632da11.pth) into a
Detectron2 checkpoint for ``train_net.py --eval-only MODEL.WEIGHTS <output>``.

    python tools/convert_detr.py detr-r50-e632da11.pth output/detr_r50_d2.pth
    python train_net.py --config-file configs/detr/detr_r50_500ep.yaml --eval-only MODEL.WEIGHTS output/detr_r50_d2.pth

By default the 92-way COCO-id classifier is reduced to Detectron2's 80 contiguous COCO classes (+ no-object);
``--keep-coco-ids`` keeps all 92 rows (then set MODEL.DETR.NUM_CLASSES 91).
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from projects.checkpoint import load_official_checkpoint  # noqa: E402
from projects.detr.convert import convert_detr_state_dict  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="official DETR checkpoint (.pth)")
    parser.add_argument("output", help="Detectron2 checkpoint to write (.pth)")
    parser.add_argument("--keep-coco-ids", action="store_true", help="keep the 91 COCO-id classes")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    official = load_official_checkpoint(args.source)
    if "query_embed.weight" not in official or "transformer.decoder.norm.weight" not in official:
        raise SystemExit(f"{args.source} is not an official DETR checkpoint (no query_embed / decoder.norm keys)")
    if any(".cross_attn." in key or "sampling_offsets" in key for key in official):
        raise SystemExit(f"{args.source} looks like a Deformable/Conditional DETR checkpoint; use its own converter")
    converted = convert_detr_state_dict(official, coco_to_contiguous=not args.keep_coco_ids)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": converted, "__source__": str(args.source)}, args.output)
    classes = converted["class_embed.weight"].shape[0] - 1
    print(f"wrote {args.output}: {len(converted)} tensors, {classes} classes + no-object")


if __name__ == "__main__":
    main()

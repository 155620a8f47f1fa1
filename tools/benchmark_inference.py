#!/usr/bin/env python
"""CPU inference time per image of the full-size (R50) Deformable DETR variants at 512x512, with the
compiled multi-scale deformable attention kernel vs the pure-PyTorch reference path, in one run.

    .venv/bin/python tools/benchmark_inference.py --threads 2 --repeats 3

Random initialisation (timing does not depend on the weights). Prints best and median seconds per
image for each path and the reference/kernel ratio.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

from deformable_detr import add_deformable_detr_config  # noqa: E402
from ops import kernel_available, set_reference_mode  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "single_scale": "configs/deformable_detr/deformable_detr_single_scale_r50_50ep.yaml",
    "multi_scale": "configs/deformable_detr/deformable_detr_r50_50ep.yaml",
    "refine": "configs/deformable_detr/deformable_detr_refine_r50_50ep.yaml",
    "two_stage": "configs/deformable_detr/deformable_detr_two_stage_r50_50ep.yaml",
}


def build(config):
    cfg = get_cfg()
    add_deformable_detr_config(cfg)
    cfg.merge_from_file(str(ROOT / config))
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = "cpu"
    return build_model(cfg).eval()


def time_model(model, image, repeats):
    """Seconds per forward pass (one 512x512 image), after one warm-up pass."""
    inputs = [{"image": image, "height": image.shape[1], "width": image.shape[2]}]
    with torch.no_grad():
        model(inputs)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(inputs)
            times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not kernel_available("cpu"):
        raise SystemExit("ops._C has no CPU kernel: build the project first (bash tools/setup_env.sh)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image = torch.randint(0, 256, (3, 512, 512), dtype=torch.uint8)
    print(f"Deformable DETR R50, one 512x512 image, CPU, {args.threads} thread(s), {args.repeats} repeats")
    print("variant      | kernel s/img (best, median) | reference s/img (best, median) | reference/kernel")
    for variant in args.variants:
        model = build(CONFIGS[variant])
        set_reference_mode(model, False)
        kernel = time_model(model, image, args.repeats)
        set_reference_mode(model, True)
        reference = time_model(model, image, args.repeats)
        print(f"{variant:12s} | {min(kernel):.3f}, {statistics.median(kernel):.3f}"
              f"{'':14s}| {min(reference):.3f}, {statistics.median(reference):.3f}{'':17s}"
              f"| {statistics.median(reference) / statistics.median(kernel):.2f}x", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Convergence benchmark on the embedded dataset: every method trained with the same budget on CPU.

Each quickstart config is trained for ``--iters`` iterations (same batch, input sizes, backbone,
hidden width and layer counts for all methods) and evaluated with COCOEvaluator every
``--eval-every`` iterations. Prints AP (and AP50) per method per evaluation point, and the first
evaluated iteration at which each method reaches ``--target-ap``.

    .venv/bin/python tools/benchmark_convergence.py --iters 300 --eval-every 100
    .venv/bin/python tools/benchmark_convergence.py --methods detr deformable_detr --iters 100

Runs are sequential subprocesses of train_net.py; their logs go to OUTPUT_ROOT/<method>/log.txt.
"""
import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = {
    "detr": "detr_embedded.yaml",
    "deformable_detr_single_scale": "deformable_detr_single_scale_embedded.yaml",
    "deformable_detr": "deformable_detr_embedded.yaml",
    "deformable_detr_refine": "deformable_detr_refine_embedded.yaml",
    "deformable_detr_two_stage": "deformable_detr_two_stage_embedded.yaml",
    "conditional_detr": "conditional_detr_embedded.yaml",
    "smca_single_scale": "smca_single_scale_embedded.yaml",
    "smca_multi_scale": "smca_multi_scale_embedded.yaml",
}
RESULT_LINE = re.compile(r"copypaste: ([\d.]+),([\d.]+),([\d.]+),([\d.]+),([\d.]+),([\d.]+)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(QUICKSTART), choices=list(QUICKSTART))
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--target-ap", type=float, default=5.0)
    parser.add_argument("--output-root", default="output/benchmark_convergence")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides applied to every method")
    return parser.parse_args(argv)


def run_method(method, args):
    """Train + periodic evaluation of one method; returns ([(iteration, AP, AP50)], seconds)."""
    output_dir = Path(args.output_root) / method
    output_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, str(ROOT / "train_net.py"), "--config-file", str(ROOT / "configs/quickstart" / QUICKSTART[method]),
        "SOLVER.MAX_ITER", str(args.iters), "SOLVER.STEPS", "()", "TEST.EVAL_PERIOD", str(args.eval_every),
        "SOLVER.CHECKPOINT_PERIOD", str(10 * args.iters), "OUTPUT_DIR", str(output_dir), *args.opts,
    ]
    start = time.time()
    with open(output_dir / "log.txt", "w") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.time() - start
    text = (output_dir / "log.txt").read_text()
    if done.returncode != 0:
        raise RuntimeError(f"{method} failed (exit {done.returncode}); see {output_dir / 'log.txt'}")
    scores = [(float(m[1]), float(m[2])) for m in RESULT_LINE.finditer(text)]
    iterations = [min(args.eval_every * (i + 1), args.iters) for i in range(len(scores))]
    return [(it, ap, ap50) for it, (ap, ap50) in zip(iterations, scores)], seconds


def print_table(results, args):
    points = sorted({it for curve, _ in results.values() for it, _, _ in curve})
    header = ["method"] + [f"AP@{p}" for p in points] + [f"AP50@{points[-1]}", f"iters to AP {args.target_ap:g}", "minutes"]
    rows = []
    for method, (curve, seconds) in results.items():
        by_iter = {it: (ap, ap50) for it, ap, ap50 in curve}
        reached = next((it for it, ap, _ in curve if ap >= args.target_ap), None)
        rows.append([method] + [f"{by_iter[p][0]:.1f}" if p in by_iter else "-" for p in points]
                    + [f"{curve[-1][2]:.1f}" if curve else "-", str(reached or f">{args.iters}"), f"{seconds / 60:.1f}"])
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths]] + rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))


def main(argv=None):
    args = parse_args(argv)
    results = {}
    for index, method in enumerate(args.methods):
        print(f"[{index + 1}/{len(args.methods)}] training {method} for {args.iters} iterations ...", flush=True)
        results[method] = run_method(method, args)
        curve, seconds = results[method]
        print(f"    done in {seconds / 60:.1f} min; AP curve {[(it, ap) for it, ap, _ in curve]}", flush=True)
    print_table(results, args)


if __name__ == "__main__":
    main()

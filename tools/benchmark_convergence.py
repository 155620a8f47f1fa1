#!/usr/bin/env python
"""Convergence benchmark on the embedded dataset: every method trained with the same budget on CPU.

Each quickstart config is trained for ``--iters`` iterations (same batch, input sizes, backbone,
hidden width and layer counts for all methods) and evaluated with COCOEvaluator every
``--eval-every`` iterations. Prints AP (and AP50) per method per evaluation point, and the first
evaluated iteration at which each method reaches ``--target-ap``.

    .venv/bin/python tools/benchmark_convergence.py --iters 300 --eval-every 100
    .venv/bin/python tools/benchmark_convergence.py --methods detr deformable_detr --iters 100

Runs are sequential subprocesses of train_net.py writing to OUTPUT_ROOT/<method>/ (Detectron2's
log.txt, metrics.json, training_curves.png). ``--report-only`` prints the table from those folders
without training again.
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

sys.path.insert(0, str(ROOT))
from projects.plotting import read_metrics  # noqa: E402

TRAINING_TIME = re.compile(r"Total training time: (\d+):(\d+):(\d+)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(QUICKSTART), choices=list(QUICKSTART))
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--target-ap", type=float, default=5.0)
    parser.add_argument("--output-root", default="output/benchmark_convergence")
    parser.add_argument("--report-only", action="store_true", help="only print the table of earlier runs")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides applied to every method")
    return parser.parse_args(argv)


def run_method(method, args):
    """Train + periodic evaluation of one method; returns the wall-clock seconds."""
    output_dir = Path(args.output_root) / method
    output_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, str(ROOT / "train_net.py"), "--config-file", str(ROOT / "configs/quickstart" / QUICKSTART[method]),
        "SOLVER.MAX_ITER", str(args.iters), "SOLVER.STEPS", "()", "TEST.EVAL_PERIOD", str(args.eval_every),
        "SOLVER.CHECKPOINT_PERIOD", str(10 * args.iters), "OUTPUT_DIR", str(output_dir), *args.opts,
    ]
    start = time.time()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{method} failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return time.time() - start


def ap_curve(method, args):
    """[(iterations trained, AP, AP50)] of a finished run, from its metrics.json.

    Periodic evaluations are stored under the 0-based index of the last step, the final one under
    MAX_ITER, hence the +1 capped at --iters."""
    metrics = Path(args.output_root) / method / "metrics.json"
    if not metrics.is_file():
        return []
    records = [r for r in read_metrics(metrics) if "bbox/AP" in r]
    return [(min(r["iteration"] + 1, args.iters), r["bbox/AP"], r["bbox/AP50"]) for r in records]


def training_minutes(method, args):
    """Training time (evaluation excluded) that Detectron2 logged for a finished run, in minutes."""
    log = Path(args.output_root) / method / "log.txt"
    found = TRAINING_TIME.findall(log.read_text()) if log.is_file() else []
    if not found:
        return float("nan")
    hours, minutes, seconds = (int(x) for x in found[-1])
    return hours * 60 + minutes + seconds / 60


def print_table(results, args):
    points = sorted({it for curve, _ in results.values() for it, _, _ in curve})
    header = ["method"] + [f"AP@{p}" for p in points] + [f"AP50@{points[-1]}", f"iters to AP {args.target_ap:g}",
                                                          "train minutes"]
    rows = []
    for method, (curve, minutes) in results.items():
        if not curve:
            continue
        by_iter = {it: (ap, ap50) for it, ap, ap50 in curve}
        reached = next((it for it, ap, _ in curve if ap >= args.target_ap), None)
        rows.append([method] + [f"{by_iter[p][0]:.2f}" if p in by_iter else "-" for p in points]
                    + [f"{curve[-1][2]:.2f}" if curve else "-", str(reached or f">{args.iters}"), f"{minutes:.1f}"])
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths]] + rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))


def main(argv=None):
    args = parse_args(argv)
    if not args.report_only:
        for index, method in enumerate(args.methods):
            print(f"[{index + 1}/{len(args.methods)}] training {method} for {args.iters} iterations ...", flush=True)
            seconds = run_method(method, args)
            curve = ap_curve(method, args)
            print(f"    done in {seconds / 60:.1f} min; AP curve {[(it, round(ap, 2)) for it, ap, _ in curve]}",
                  flush=True)
    print_table({m: (ap_curve(m, args), training_minutes(m, args)) for m in args.methods}, args)


if __name__ == "__main__":
    main()

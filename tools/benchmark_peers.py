#!/usr/bin/env python
"""Our models vs Hugging Face transformers' (same weights copied over), CPU time and training memory.

    python tools/benchmark_peers.py [--methods deformable_detr conditional_detr detr] [--threads 1 2]
        [--repeats 3] [--train-repeats 2] [--atol 1e-4] [--no-memory] [--profile]

Needs transformers (``pip install -r tools/benchmark_requirements.txt``); the project does not.
For each method (R50 configs below, random init, perturbed, BN statistics calibrated), our model
and HF's (HF ResNet backbone, ``use_timm_backbone=False``) get every weight through an explicit
name mapping; the class logits and boxes of both must agree within --atol on every timed input,
else nothing is timed. Inference (eval, no_grad) on one 512x512 image and on a padded batch of two
images (600x800 and 560x752, one pixel mask for both), at each thread count; for Deformable DETR
also one training step (forward + backward of each side's own loss: ours = matcher + criterion
on every decoder layer, HF = its loss with ``labels``, auxiliary loss on; no optimizer step).
Median of --repeats calls after a warm-up, ours and HF alternating, in one process. Memory: the
peak RSS growth of one Deformable DETR training step (batch 2, 800x1216 and 760x1140), each side
in its own fresh subprocess. --profile: torch.profiler's top ops of both at 512x512 (Deformable DETR).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from projects.benchmark.hf_configs import import_transformers  # noqa: E402

CONFIGS = {
    "deformable_detr": "configs/deformable_detr/deformable_detr_r50_50ep.yaml",
    "conditional_detr": "configs/conditional_detr/conditional_detr_r50_50ep.yaml",
    "detr": "configs/detr/detr_r50_500ep.yaml",
}
INFERENCE_INPUTS = {"1x512x512": [(512, 512)], "2x600x800": [(600, 800), (560, 752)]}
TRAIN_INPUT = "2x600x800"
MEMORY_SIZES = [(800, 1216), (760, 1140)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-repeats", type=int, default=2)
    parser.add_argument("--atol", type=float, default=1e-4, help="max |ours - HF| of logits and boxes")
    parser.add_argument("--no-memory", action="store_true", help="skip the training-memory subprocesses")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler top ops (Deformable DETR)")
    parser.add_argument("--memory-child", choices=["ours", "hf"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def load_cfg(method):
    from train_net import load_config

    return load_config(str(ROOT / CONFIGS[method]), ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])


def verified_batch(pair, name, atol):
    """The input ``name`` after checking that both models' outputs agree on it (SystemExit if not)."""
    from projects.benchmark.peers import batch_for, output_differences

    batch = batch_for(pair.ours, INFERENCE_INPUTS[name])
    logits, boxes = output_differences(pair, batch)
    print(f"  {pair.arch} {name}: max |ours - HF| logits {logits:.2e}, boxes {boxes:.2e} (atol {atol:g})", flush=True)
    if not (logits <= atol and boxes <= atol):
        raise SystemExit(f"{pair.arch}: outputs differ from Hugging Face's on {name}; refusing to time")
    return batch


def time_inference(pair, batch, threads, repeats):
    from projects.benchmark.peers import hf_outputs, ours_outputs
    from projects.benchmark.timing import interleaved_medians

    torch.set_num_threads(threads)
    pair.ours.eval(), pair.hf.eval()
    with torch.no_grad():
        return interleaved_medians([lambda: ours_outputs(pair.ours, batch), lambda: hf_outputs(pair.hf, batch)],
                                   repeats)


def training_step(model, loss_fn, batch, targets):
    """zero_grad + forward + backward of ``loss_fn(model, batch, targets)``."""
    model.zero_grad(set_to_none=True)
    loss_fn(model, batch, targets).backward()


def time_training(pair, batch, threads, repeats):
    from projects.benchmark.peers import hf_training_loss, ours_training_loss, random_targets
    from projects.benchmark.timing import interleaved_medians

    torch.set_num_threads(threads)
    targets = random_targets(len(batch.images), pair.ours.class_embed[0].out_features)
    pair.ours.train(), pair.hf.train()
    try:
        return interleaved_medians([lambda: training_step(pair.ours, ours_training_loss, batch, targets),
                                    lambda: training_step(pair.hf, hf_training_loss, batch, targets)], repeats)
    finally:
        pair.ours.eval(), pair.hf.eval()


def benchmark_method(method, args, rows):
    from projects.benchmark.peers import build_pair

    pair = build_pair(load_cfg(method))
    batches = {name: verified_batch(pair, name, args.atol) for name in INFERENCE_INPUTS}
    for name, batch in batches.items():
        for threads in args.threads:
            ours, hf = time_inference(pair, batch, threads, args.repeats)
            rows.append((method, f"inference {name}", threads, ours, hf))
            print(f"  {rows[-1][1]} threads={threads}: ours {ours * 1e3:.0f} ms, HF {hf * 1e3:.0f} ms", flush=True)
    if method == "deformable_detr":
        for threads in args.threads:
            ours, hf = time_training(pair, batches[TRAIN_INPUT], threads, args.train_repeats)
            rows.append((method, f"train step {TRAIN_INPUT}", threads, ours, hf))
            print(f"  {rows[-1][1]} threads={threads}: ours {ours * 1e3:.0f} ms, HF {hf * 1e3:.0f} ms", flush=True)
        if args.profile:
            profile(pair, batches["1x512x512"], max(args.threads))


def profile(pair, batch, threads, top=12):
    """torch.profiler's ops by self CPU time, one inference call of each side."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    from projects.benchmark.peers import hf_outputs, ours_outputs

    torch.set_num_threads(threads)
    for name, run in (("ours", lambda: ours_outputs(pair.ours, batch)), ("HF", lambda: hf_outputs(pair.hf, batch))):
        with torch.no_grad(), torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            run()
        print(f"\n{name}, 1x512x512, {threads} thread(s):")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


def memory_child(side, threads):
    """In a fresh process: build one side only, run one training step, print its peak RSS as JSON."""
    from projects.benchmark.hf_configs import build_hf_model
    from projects.benchmark.hf_weights import match_trainable
    from projects.benchmark.peers import (batch_for, calibrate_frozen_bn, hf_training_loss, ours_training_loss,
                                          perturb, random_targets, CALIBRATION_SIZES)
    from projects.benchmark.timing import peak_growth_mb
    from detectron2.modeling import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_cfg("deformable_detr")
    ours = build_model(cfg)
    perturb(ours)
    calibrate_frozen_bn(ours, batch_for(ours, CALIBRATION_SIZES))
    batch = batch_for(ours, MEMORY_SIZES)
    targets = random_targets(len(MEMORY_SIZES), cfg.MODEL.DETR.NUM_CLASSES)
    if side == "ours":
        model, loss_fn = ours.train(), ours_training_loss
    else:
        del ours  # the HF side holds only its own model
        model, loss_fn = build_hf_model(cfg).train(), hf_training_loss
        match_trainable(model, cfg.MODEL.BACKBONE.FREEZE_AT)
    before, growth = peak_growth_mb(lambda: training_step(model, loss_fn, batch, targets))
    print(json.dumps({"before_mb": before, "growth_mb": growth}))


def measure_memory(threads):
    """{side: (peak RSS before, growth during the step)} from one fresh subprocess per side."""
    results = {}
    for side in ("ours", "hf"):
        command = [sys.executable, str(Path(__file__).resolve()), "--memory-child", side, "--threads", str(threads)]
        done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
        data = json.loads(done.stdout.strip().splitlines()[-1])
        results[side] = (data["before_mb"], data["growth_mb"])
        print(f"  memory {side}: peak RSS {data['before_mb']:.0f} MiB before the step, +{data['growth_mb']:.0f} MiB "
              "during it", flush=True)
    return results


def print_report(args, rows, memory):
    transformers = import_transformers()
    print(f"\nCommand: python tools/benchmark_peers.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"Date: {datetime.date.today()}; torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{os.cpu_count()} CPU(s) visible; threads {args.threads}; median of {args.repeats} "
          f"(train: {args.train_repeats}) after a warm-up")
    print("\n| model | call | threads | ours | HF | speed-up (HF / ours) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for method, call, threads, ours, hf in rows:
        print(f"| {method} | {call} | {threads} | {ours * 1e3:.0f} ms | {hf * 1e3:.0f} ms | {hf / ours:.2f}x |")
    if memory:
        (ours_before, ours_growth), (hf_before, hf_growth) = memory["ours"], memory["hf"]
        print(f"\nDeformable DETR training step, batch 2 at {MEMORY_SIZES[0][0]}x{MEMORY_SIZES[0][1]} "
              f"(+{MEMORY_SIZES[1][0]}x{MEMORY_SIZES[1][1]}), peak RSS growth during the step (fresh process each): "
              f"ours {ours_growth:.0f} MiB, HF {hf_growth:.0f} MiB, HF / ours {hf_growth / ours_growth:.2f}x "
              f"(peak RSS before the step: ours {ours_before:.0f} MiB, HF {hf_before:.0f} MiB)")


def main(argv=None):
    args = parse_args(argv)
    import_transformers()  # SystemExit with the install hint when missing
    if args.memory_child:
        return memory_child(args.memory_child, max(args.threads))
    rows = []
    for method in args.methods:
        print(f"{method} ({CONFIGS[method]})", flush=True)
        benchmark_method(method, args, rows)
    memory = None if args.no_memory else measure_memory(max(args.threads))
    print_report(args, rows, memory)


if __name__ == "__main__":
    main()

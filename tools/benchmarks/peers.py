#!/usr/bin/env python
"""Our models vs Hugging Face transformers' (same weights copied over), CPU time and training memory.

    python tools/benchmarks/peers.py [--methods deformable_detr conditional_detr detr] [--threads 1 2]
        [--repeats 3] [--train-repeats 2] [--atol 1e-4] [--no-memory | --memory-only] [--profile]

Needs transformers (``pip install -r tools/benchmarks/requirements.txt``); the project does not.
The methods are the registered ones that declare a Hugging Face peer (``Method.benchmark_peer``, an
``HFPeer``: projects/benchmark/hf_peer.py). For each method (its peer's R50 config, random init,
perturbed, BN statistics calibrated), our model and HF's (HF ResNet backbone,
``use_timm_backbone=False``) get every weight through an explicit name mapping; the class logits and
boxes of both must agree within --atol on every timed input, else nothing is timed.

Inference (eval, no_grad) on one 512x512 image and on a padded batch of two images (600x800 and
560x752, one pixel mask for both), at each thread count; for the methods whose peer sets
``time_training`` (Deformable DETR) also one training step at the largest thread count (forward +
backward of each side's own loss: ours = matcher + criterion on every decoder layer, HF = its loss
with ``labels``, auxiliary loss on; no optimizer step) on the 2-image batch. Median wall and
process-CPU time of --repeats calls after a warm-up, ours and HF alternating, in one process (on a
shared machine the CPU time is the robust measure: waiting for a core is not in it). Memory,
measured first for those same methods: the peak RSS growth of one training step (batch 2, 800x1216
and 760x1140 padded), each side in its own fresh subprocess.

--profile instead prints torch.profiler's top ops of both sides (512x512) and the bound: HF's total
op time over the time of the dense ops both sides run alike (matrix products, convolutions, max
pooling), i.e. the speed-up ours would reach if all its other work were free. --fold-frozen-bn
folds our backbone's FrozenBN into its convs first (``projects.deploy.fold_batchnorm``; HF keeps its
own frozen batch norms; the outputs are still checked against HF's) and skips the training step.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from projects.benchmark.hf_configs import import_transformers
from projects.benchmark.hf_peer import peer_methods

ROOT = Path(__file__).resolve().parents[2]  # the checkout: the peers' default configs are relative to it
INFERENCE_INPUTS = {"1x512x512": [(512, 512)], "2x600x800": [(600, 800), (560, 752)]}
TRAIN_INPUT = "2x600x800"
MEMORY_SIZES = "800x1216,760x1140"
# the work both sides do alike (same weights, same shapes): matrix products, convolutions, max pooling
DENSE_OPS = ("aten::addmm", "aten::mm", "aten::mkldnn_convolution", "aten::_slow_conv2d_forward",
             "aten::max_pool2d_with_indices")


def parse_args(argv=None):
    peers = peer_methods()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(peers), choices=list(peers),
                        help="registered methods with a Hugging Face peer (default: all of them)")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-repeats", type=int, default=2)
    parser.add_argument("--atol", type=float, default=1e-4, help="max |ours - HF| of logits and boxes")
    parser.add_argument("--no-memory", action="store_true", help="skip the training-memory subprocesses")
    parser.add_argument("--memory-only", action="store_true", help="only the training-memory subprocesses")
    parser.add_argument("--memory-sizes", default=MEMORY_SIZES, help="HxW,HxW of the memory measurement's batch")
    parser.add_argument("--profile", action="store_true",
                        help="only profile each method at 1x512x512, fewest threads (torch.profiler top ops)")
    parser.add_argument("--fold-frozen-bn", action="store_true",
                        help="fold our backbone's FrozenBN into its convs (an inference-only deployment step)")
    parser.add_argument("--memory-child", choices=["ours", "hf"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def config_file(method):
    """The config the benchmark builds for ``method``: its peer's ``default_config``."""
    return ROOT / peer_methods()[method].default_config


def load_cfg(method):
    from projects.config import load_config

    return load_config(str(config_file(method)), ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])


def trains(method):
    """Whether ``method``'s peer asks for its training step to be timed and its memory measured."""
    return peer_methods()[method].time_training


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
    from projects.benchmark.timing import interleaved_medians, torch_threads

    pair.ours.eval(), pair.hf.eval()
    with torch.no_grad(), torch_threads(threads):
        return interleaved_medians([lambda: ours_outputs(pair.ours, batch), lambda: hf_outputs(pair.hf, batch)],
                                   repeats)


def training_step(model, loss_fn, batch, targets):
    """zero_grad + forward + backward of ``loss_fn(model, batch, targets)``."""
    model.zero_grad(set_to_none=True)
    loss_fn(model, batch, targets).backward()


def time_training(pair, batch, num_classes, threads, repeats):
    from projects.benchmark.peers import hf_training_loss, ours_training_loss, random_targets
    from projects.benchmark.timing import interleaved_medians, torch_threads

    targets = random_targets(len(batch.images), num_classes)
    pair.ours.train(), pair.hf.train()
    try:
        with torch_threads(threads):
            return interleaved_medians([lambda: training_step(pair.ours, ours_training_loss, batch, targets),
                                        lambda: training_step(pair.hf, hf_training_loss, batch, targets)], repeats)
    finally:
        pair.ours.eval(), pair.hf.eval()


def report_row(row):
    method, call, threads, ours, hf = row
    print(f"  {call} threads={threads}: ours {ours.wall * 1e3:.0f} ms (CPU {ours.cpu * 1e3:.0f} ms), "
          f"HF {hf.wall * 1e3:.0f} ms (CPU {hf.cpu * 1e3:.0f} ms)", flush=True)


def build_pair_for(method, args):
    """The peer pair of ``method``; ours with its FrozenBN folded when --fold-frozen-bn."""
    from projects.benchmark.peers import build_pair
    from projects.deploy.fold_batchnorm import fold_frozen_batchnorm

    pair = build_pair(load_cfg(method))
    if args.fold_frozen_bn:
        print(f"  ours: {fold_frozen_batchnorm(pair.ours)} FrozenBN folded into their convs", flush=True)
    return pair


def profile_method(method, args):
    """torch.profiler's top ops of both sides on the verified 1x512x512 input (nothing timed)."""
    pair = build_pair_for(method, args)
    profile(pair, verified_batch(pair, "1x512x512", args.atol), min(args.threads))


def benchmark_method(method, args, rows):
    pair = build_pair_for(method, args)
    batches = {name: verified_batch(pair, name, args.atol) for name in INFERENCE_INPUTS}
    for name, batch in batches.items():
        for threads in args.threads:
            ours, hf = time_inference(pair, batch, threads, args.repeats)
            rows.append((method, f"inference {name}", threads, ours, hf))
            report_row(rows[-1])
    if trains(method) and not args.fold_frozen_bn:  # a folded model is for inference only
        threads = max(args.threads)
        num_classes = load_cfg(method).MODEL.DETR.NUM_CLASSES
        ours, hf = time_training(pair, batches[TRAIN_INPUT], num_classes, threads, args.train_repeats)
        rows.append((method, f"train step {TRAIN_INPUT}", threads, ours, hf))
        report_row(rows[-1])


def profile(pair, batch, threads, top=12):
    """torch.profiler's ops by self CPU time, one inference call of each side, then the bound."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    from projects.benchmark.peers import hf_outputs, ours_outputs
    from projects.benchmark.timing import torch_threads

    totals = {}
    for name, run in (("ours", lambda: ours_outputs(pair.ours, batch)), ("HF", lambda: hf_outputs(pair.hf, batch))):
        with torch.no_grad(), torch_threads(threads), torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            run()
        print(f"\n{pair.arch} {name}, 1x512x512, {threads} thread(s):")
        averages = prof.key_averages()
        print(averages.table(sort_by="self_cpu_time_total", row_limit=top))
        totals[name] = dense_and_total_ms(averages)
    print_bound(totals)


def dense_and_total_ms(averages):
    """(self CPU ms of the DENSE_OPS, self CPU ms of all ops) of a profiler's key averages."""
    dense = sum(event.self_cpu_time_total for event in averages if event.key in DENSE_OPS)
    total = sum(event.self_cpu_time_total for event in averages)
    return dense / 1e3, total / 1e3


def print_bound(totals):
    """The profiled speed-up HF / ours and its bound HF total / our dense time (all our other work free)."""
    (ours_dense, ours_total), (hf_dense, hf_total) = totals["ours"], totals["HF"]
    print(f"Self CPU totals: ours {ours_total:.0f} ms (dense {ours_dense:.0f} ms, other {ours_total - ours_dense:.0f}), "
          f"HF {hf_total:.0f} ms (dense {hf_dense:.0f} ms, other {hf_total - hf_dense:.0f}); dense = {', '.join(DENSE_OPS)}")
    print(f"Speed-up HF / ours {hf_total / ours_total:.2f}x; bound if all our non-dense work were free: "
          f"HF total / our dense {hf_total / ours_dense:.2f}x (/ HF dense {hf_total / hf_dense:.2f}x)")


def parse_sizes(text):
    """"800x1216,760x1140" -> [(800, 1216), (760, 1140)]."""
    return [tuple(int(v) for v in size.split("x")) for size in text.split(",")]


def build_side(side, cfg):
    """(model in train mode, its loss function) of one side only: ours as the benchmark builds it,
    or HF's (random init; the memory of a step does not depend on the weights' values)."""
    from detectron2.modeling import build_model

    from projects.benchmark.hf_configs import build_hf_model
    from projects.benchmark.hf_weights import match_trainable
    from projects.benchmark.peers import (CALIBRATION_SIZES, batch_for, calibrate_frozen_bn, hf_training_loss,
                                          ours_training_loss, perturb)

    torch.manual_seed(0)
    if side == "hf":
        model = build_hf_model(cfg)
        match_trainable(model, cfg.MODEL.BACKBONE.FREEZE_AT)
        return model.train(), hf_training_loss
    model = build_model(cfg)
    perturb(model)
    calibrate_frozen_bn(model, batch_for(model, CALIBRATION_SIZES))
    return model.train(), ours_training_loss


def memory_child(side, method, threads, sizes):
    """In a fresh process: build one side of ``method`` only, run one training step, print its peak RSS as JSON."""
    from projects.benchmark.peers import make_batch, random_targets
    from projects.benchmark.timing import peak_growth_mb

    torch.set_num_threads(threads)
    cfg = load_cfg(method)
    batch = make_batch(sizes, cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD)
    targets = random_targets(len(sizes), cfg.MODEL.DETR.NUM_CLASSES)
    model, loss_fn = build_side(side, cfg)
    before, growth = peak_growth_mb(lambda: training_step(model, loss_fn, batch, targets))
    print(json.dumps({"before_mb": before, "growth_mb": growth}))


def measure_memory(method, threads, sizes):
    """{side: (RSS before the step, peak growth during it)} of one training step of ``method``, from one
    fresh subprocess per side (None on failure)."""
    results = {}
    for side in ("ours", "hf"):
        command = [sys.executable, str(Path(__file__).resolve()), "--memory-child", side, "--methods", method,
                   "--threads", str(threads), "--memory-sizes", sizes]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            print(f"  memory {method} {side}: the subprocess failed:\n{done.stderr[-2000:]}", flush=True)
            return None
        data = json.loads(done.stdout.strip().splitlines()[-1])
        results[side] = (data["before_mb"], data["growth_mb"])
        print(f"  memory {method} {side}: RSS {data['before_mb']:.0f} MiB before the step, "
              f"peak +{data['growth_mb']:.0f} MiB during it", flush=True)
    return results


def measure_all_memory(args):
    """{method: measure_memory(...)} of the selected methods whose peer trains (failures left out)."""
    measured = {method: measure_memory(method, max(args.threads), args.memory_sizes)
                for method in args.methods if trains(method)}
    return {method: result for method, result in measured.items() if result}


def print_report(args, rows, memory):
    transformers = import_transformers()
    print(f"\nCommand: python tools/benchmarks/peers.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"Date: {datetime.date.today()}; torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{os.cpu_count()} CPU(s) visible; threads {args.threads}; median of {args.repeats} "
          f"(train: {args.train_repeats}) after a warm-up")
    if rows:
        print("\n| model | call | threads | ours wall (CPU) | HF wall (CPU) | speed-up HF / ours: wall (CPU) |")
        print("| --- | --- | --- | --- | --- | --- |")
    for method, call, threads, ours, hf in rows:
        print(f"| {method} | {call} | {threads} | {ours.wall * 1e3:.0f} ms ({ours.cpu * 1e3:.0f}) | "
              f"{hf.wall * 1e3:.0f} ms ({hf.cpu * 1e3:.0f}) | {hf.wall / ours.wall:.2f}x ({hf.cpu / ours.cpu:.2f}x) |")
    for method, measured in memory.items():
        (ours_before, ours_growth), (hf_before, hf_growth) = measured["ours"], measured["hf"]
        print(f"\n{method} training step, batch {args.memory_sizes}, peak RSS growth during the step "
              f"(fresh process each): "
              f"ours {ours_growth:.0f} MiB, HF {hf_growth:.0f} MiB, HF / ours {hf_growth / ours_growth:.2f}x "
              f"(RSS before the step: ours {ours_before:.0f} MiB, HF {hf_before:.0f} MiB)")


def main(argv=None):
    args = parse_args(argv)
    import_transformers()  # SystemExit with the install hint when missing
    if args.memory_child:
        return memory_child(args.memory_child, args.methods[0], max(args.threads), parse_sizes(args.memory_sizes))
    if args.profile:
        return [profile_method(method, args) for method in args.methods]
    memory = {} if args.no_memory else measure_all_memory(args)
    rows = []
    for method in [] if args.memory_only else args.methods:
        print(f"{method} ({config_file(method)})", flush=True)
        benchmark_method(method, args, rows)
    print_report(args, rows, memory)


if __name__ == "__main__":
    main()

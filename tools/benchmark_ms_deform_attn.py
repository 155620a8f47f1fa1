#!/usr/bin/env python
"""Benchmark multi-scale deformable attention: compiled kernel vs the PyTorch reference.

Shapes are those of Deformable DETR on one 512x512 image: levels 64x64, 32x32, 16x16, 8x8;
8 heads of 32 channels; 4 points per level; the encoder queries every pixel (5440 queries), the
decoder has 300. For each shape it prints forward time (no_grad), forward+backward time and the
peak memory allocated during each, for the kernel and the reference, and their ratios, all
measured in the same run (repeats interleaved, best time kept). CPU runs at each --threads
count; CUDA runs too when a GPU and the CUDA kernel are present.

    python tools/benchmark_ms_deform_attn.py [--threads 1 2] [--repeats 5] [--device cpu cuda]
"""
import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout too
import ops  # noqa: E402

LEVELS = ((64, 64), (32, 32), (16, 16), (8, 8))
HEADS, CHANNELS, POINTS = 8, 32, 4
SHAPES = {"encoder": sum(h * w for h, w in LEVELS), "decoder": 300}
IMPLEMENTATIONS = ("reference", "kernel")


def make_inputs(queries, device, dtype, seed=0):
    """Inputs of ms_deform_attn for one image; locations spread around the map, some outside."""
    generator = torch.Generator().manual_seed(seed)
    spatial_shapes = torch.tensor(LEVELS, dtype=torch.long)
    areas = spatial_shapes.prod(1)
    level_start_index = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
    tokens = int(areas.sum())
    value = torch.randn(1, tokens, HEADS, CHANNELS, generator=generator)
    locations = torch.rand(1, queries, HEADS, len(LEVELS), POINTS, 2, generator=generator) * 1.1 - 0.05
    weights = torch.rand(1, queries, HEADS, len(LEVELS) * POINTS, generator=generator).softmax(-1)
    weights = weights.view(1, queries, HEADS, len(LEVELS), POINTS)
    tensors = [value, spatial_shapes, level_start_index, locations, weights]
    tensors = [t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device) for t in tensors]
    return tensors, torch.randn(1, queries, HEADS * CHANNELS, generator=generator).to(device=device, dtype=dtype)


def runners(implementation, tensors, grad_output):
    """(forward, forward_backward) closures for one implementation."""
    use_reference = implementation == "reference"
    leaves = [t.detach().requires_grad_(True) if t.is_floating_point() else t for t in tensors]

    def forward():
        with torch.no_grad():
            return ops.ms_deform_attn(*tensors, use_reference=use_reference)

    def forward_backward():
        for leaf in leaves:
            leaf.grad = None
        ops.ms_deform_attn(*leaves, use_reference=use_reference).backward(grad_output)

    return forward, forward_backward


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def seconds(function, device):
    synchronize(device)
    start = time.perf_counter()
    function()
    synchronize(device)
    return time.perf_counter() - start


@contextlib.contextmanager
def quiet_stderr():
    """Silences the profiler's native log lines (file descriptor 2) while measuring memory."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def peak_bytes(function, device):
    """Peak memory allocated by torch while ``function`` runs, above what was live before it."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        function()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    # CPU: replay the profiler's allocation events ([memory] records with signed byte counts).
    from torch.profiler import ProfilerActivity, profile
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        function()
    events = sorted((event.start_ns(), event.nbytes()) for event in profiler.profiler.kineto_results.events()
                    if event.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def measure(queries, device, dtype, repeats):
    """{implementation: {metric: value}} with metrics fwd_ms, fwdbwd_ms, fwd_mib, fwdbwd_mib."""
    tensors, grad_output = make_inputs(queries, device, dtype)
    functions = {name: runners(name, tensors, grad_output) for name in IMPLEMENTATIONS}
    times = {name: {"fwd_ms": [], "fwdbwd_ms": []} for name in IMPLEMENTATIONS}
    for name in IMPLEMENTATIONS:  # warm-up (first-call allocations, lazy init)
        functions[name][0]()
        functions[name][1]()
    for _ in range(repeats):  # interleaved, so that load on a shared machine hits both alike
        for name in IMPLEMENTATIONS:
            times[name]["fwd_ms"].append(1e3 * seconds(functions[name][0], device))
            times[name]["fwdbwd_ms"].append(1e3 * seconds(functions[name][1], device))
    results = {}
    for name in IMPLEMENTATIONS:
        forward, forward_backward = functions[name]
        results[name] = {
            "fwd_ms": min(times[name]["fwd_ms"]),
            "fwd_ms_median": statistics.median(times[name]["fwd_ms"]),
            "fwdbwd_ms": min(times[name]["fwdbwd_ms"]),
            "fwdbwd_ms_median": statistics.median(times[name]["fwdbwd_ms"]),
            "fwd_mib": peak_bytes(forward, device) / 2**20,
            "fwdbwd_mib": peak_bytes(forward_backward, device) / 2**20,
        }
    return results


def report(title, results):
    reference, kernel = results["reference"], results["kernel"]
    print(f"\n{title}")
    print(f"  {'metric':<28}{'reference':>12}{'kernel':>12}{'ref/kernel':>12}")
    rows = (("forward ms (best)", "fwd_ms"), ("forward ms (median)", "fwd_ms_median"),
            ("forward+backward ms (best)", "fwdbwd_ms"), ("forward+backward ms (median)", "fwdbwd_ms_median"),
            ("forward peak MiB", "fwd_mib"), ("forward+backward peak MiB", "fwdbwd_mib"))
    for label, key in rows:
        ratio = reference[key] / kernel[key] if kernel[key] > 0 else float("inf")
        print(f"  {label:<28}{reference[key]:>12.2f}{kernel[key]:>12.2f}{ratio:>11.2f}x")
    return {key: reference[key] / max(kernel[key], 1e-12) for key in ("fwd_ms", "fwdbwd_ms", "fwd_mib", "fwdbwd_mib")}


def goal_line(ratios):
    met = ratios["fwd_ms"] >= 3 and ratios["fwdbwd_ms"] >= 3 and ratios["fwdbwd_mib"] > 1 and ratios["fwd_mib"] > 1
    return (f"  goal (encoder: kernel >= 3x faster forward and forward+backward, less peak memory): "
            f"{'MET' if met else 'NOT MET'}")


def run_cpu(threads_list, repeats):
    if not ops.kernel_available("cpu"):
        print("CPU: ops._C is not built; nothing to compare (run `pip install --no-build-isolation -e .`)")
        return
    previous = torch.get_num_threads()
    for threads in threads_list:
        torch.set_num_threads(threads)
        for shape, queries in SHAPES.items():
            ratios = report(f"CPU, {threads} thread(s), {shape} (queries={queries}), float32",
                            measure(queries, "cpu", torch.float32, repeats))
            if shape == "encoder":
                print(goal_line(ratios))
    torch.set_num_threads(previous)


def run_cuda(repeats):
    if not (torch.cuda.is_available() and ops.kernel_available("cuda")):
        print("\nCUDA: skipped (no GPU, or ops._C built without the CUDA kernel)")
        return
    print(f"\nCUDA device: {torch.cuda.get_device_name()}")
    for dtype in (torch.float32, torch.float16):
        for shape, queries in SHAPES.items():
            report(f"CUDA, {shape} (queries={queries}), {str(dtype).replace('torch.', '')}",
                   measure(queries, "cuda", dtype, repeats))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement")
    parser.add_argument("--device", nargs="+", default=["cpu", "cuda"], choices=["cpu", "cuda"])
    args = parser.parse_args()
    print(f"torch {torch.__version__}; levels {LEVELS}; heads {HEADS}; channels/head {CHANNELS}; points {POINTS}")
    if "cpu" in args.device:
        run_cpu(args.threads, args.repeats)
    if "cuda" in args.device:
        run_cuda(args.repeats)


if __name__ == "__main__":
    main()

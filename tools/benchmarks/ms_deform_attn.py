#!/usr/bin/env python
"""Benchmark multi-scale deformable attention: compiled kernel vs the PyTorch reference.

Shapes are Deformable DETR's (8 heads of 32 channels, 4 levels at strides 8..64, 4 points):
the encoder queries every pixel, the decoder has 300 queries; one 512x512 image and a batch of
two 800x1216 images. For each shape it prints forward time (no_grad), forward+backward time and
the peak memory allocated during each, for the kernel and the reference, and their ratios, all
measured in the same run (repeats interleaved, best time kept). Beside the kernel's times it
prints a roofline estimate (multiply-adds and bytes per call, the time the machine's peak would
need, and the fraction of that peak reached). CPU runs at each --threads count; CUDA runs too
when a GPU and the CUDA kernel are present. Times are wall-clock, plus the process's CPU time on
the CPU (what other processes on a shared machine disturb least).

    python tools/benchmarks/ms_deform_attn.py [--threads 1 2] [--repeats 5] [--device cpu cuda]
        [--shapes encoder_512 decoder_512 encoder_800x1216_b2 decoder_800x1216_b2]
        [--dtype float32 bfloat16 float16] [--locations model uniform random]

On a shared machine pin it and name the thread count, e.g.
``OMP_NUM_THREADS=1 taskset -c 1 python tools/benchmarks/ms_deform_attn.py --threads 1``; the
load average is printed before and after, since other processes slow both sides alike but add noise.
It imports torch and ``ops`` only: from a checkout where the project is not installed (the op built
in place, as tools/check_cuda.sh does) run it with ``PYTHONPATH=.`` from the checkout's root.
"""
import argparse
import contextlib
import os
import statistics
import sys
import time

import torch

import ops

HEADS, CHANNELS, POINTS = 8, 32, 4
LEVELS_512 = ((64, 64), (32, 32), (16, 16), (8, 8))
LEVELS_800x1216 = ((100, 152), (50, 76), (25, 38), (13, 19))
SHAPES = {  # name: (batch, levels, queries; None = one query per pixel, the encoder)
    "encoder_512": (1, LEVELS_512, None),
    "decoder_512": (1, LEVELS_512, 300),
    "encoder_800x1216_b2": (2, LEVELS_800x1216, None),
    "decoder_800x1216_b2": (2, LEVELS_800x1216, 300),
}
IMPLEMENTATIONS = ("reference", "kernel")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
GOALS = {"fwd": 20.0, "fwdbwd": 15.0}  # encoder_512, 1 thread, float32 (issue 13)


def num_queries(levels, queries):
    return sum(h * w for h, w in levels) if queries is None else queries


def model_locations(batch, levels, queries, generator):
    """[batch, queries, HEADS, L, POINTS, 2] locations as a Deformable DETR layer makes them: a
    reference point per query (the encoder's own pixel centres, level by level; the decoder's
    anywhere in the image) plus, on every level, offsets along the head's direction of p + 1
    pixels (the official initialisation) jittered by one pixel. Neighbouring encoder queries so
    sample neighbouring pixels, as in the model."""
    encoder = queries == sum(h * w for h, w in levels)
    if encoder:
        centres = [torch.stack(torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w,
                                              indexing="ij")[::-1], -1).view(-1, 2) for h, w in levels]
        reference = torch.cat(centres).expand(batch, queries, 2)
    else:
        reference = torch.rand(batch, queries, 2, generator=generator)
    angles = torch.arange(HEADS) * (2 * torch.pi / HEADS)
    directions = torch.stack([angles.cos(), angles.sin()], -1)
    directions = directions / directions.abs().max(-1, keepdim=True).values  # [HEADS, 2]
    steps = torch.arange(1, POINTS + 1, dtype=torch.float32)
    pixels = directions[:, None, None, :] * steps[None, None, :, None]  # [HEADS, 1, POINTS, 2]
    pixels = pixels + torch.randn(batch, queries, HEADS, len(levels), POINTS, 2, generator=generator)
    sizes = torch.tensor([[w, h] for h, w in levels], dtype=torch.float32)  # (x, y) order
    return reference[:, :, None, None, None, :] + pixels / sizes[:, None, :]


def make_inputs(batch, levels, queries, device, dtype, locations="model", seed=0):
    """Inputs of ms_deform_attn; ``locations`` "model" (see model_locations), "uniform" (anywhere
    in [-0.05, 1.05], no locality: the cache's worst case) or "random" (uniform in [0, 1], as the
    acceptance check of issue 23 draws them). Returns
    ([value, spatial_shapes, level_start_index, locations, weights], grad_output)."""
    generator = torch.Generator().manual_seed(seed)
    spatial_shapes = torch.tensor(levels, dtype=torch.long)
    areas = spatial_shapes.prod(1)
    level_start_index = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
    tokens = int(areas.sum())
    value = torch.randn(batch, tokens, HEADS, CHANNELS, generator=generator)
    if locations == "model":
        sampling_locations = model_locations(batch, levels, queries, generator)
    elif locations == "random":
        sampling_locations = torch.rand(batch, queries, HEADS, len(levels), POINTS, 2, generator=generator)
    else:
        sampling_locations = torch.rand(batch, queries, HEADS, len(levels), POINTS, 2, generator=generator) * 1.1 - 0.05
    weights = torch.rand(batch, queries, HEADS, len(levels) * POINTS, generator=generator).softmax(-1)
    weights = weights.view(batch, queries, HEADS, len(levels), POINTS)
    tensors = [value, spatial_shapes, level_start_index, sampling_locations, weights]
    tensors = [t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device) for t in tensors]
    grad_output = torch.randn(batch, queries, HEADS * CHANNELS, generator=generator)
    return tensors, grad_output.to(device=device, dtype=dtype)


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
    """(wall seconds, CPU seconds of this process) of one call. On a shared machine the CPU time
    leaves out the time other processes held the cores."""
    synchronize(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    function()
    synchronize(device)
    return time.perf_counter() - start, time.process_time() - start_cpu


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


def measure(tensors, grad_output, device, repeats):
    """{implementation: {metric: value}} with metrics fwd_ms, fwdbwd_ms (best and median), fwd_mib,
    fwdbwd_mib."""
    functions = {name: runners(name, tensors, grad_output) for name in IMPLEMENTATIONS}
    times = {name: {key: [] for key in ("fwd", "fwdbwd", "fwd_cpu", "fwdbwd_cpu")} for name in IMPLEMENTATIONS}
    for name in IMPLEMENTATIONS:  # warm-up (first-call allocations, lazy init)
        functions[name][0]()
        functions[name][1]()
    for _ in range(repeats):  # interleaved, so that load on a shared machine hits both alike
        for name in IMPLEMENTATIONS:
            for key, function in zip(("fwd", "fwdbwd"), functions[name]):
                wall, cpu = seconds(function, device)
                times[name][key].append(1e3 * wall)
                times[name][key + "_cpu"].append(1e3 * cpu)
    results = {}
    for name in IMPLEMENTATIONS:
        forward, forward_backward = functions[name]
        results[name] = {
            "fwd_ms": min(times[name]["fwd"]),
            "fwd_ms_median": statistics.median(times[name]["fwd"]),
            "fwd_cpu_ms": min(times[name]["fwd_cpu"]),
            "fwdbwd_ms": min(times[name]["fwdbwd"]),
            "fwdbwd_ms_median": statistics.median(times[name]["fwdbwd"]),
            "fwdbwd_cpu_ms": min(times[name]["fwdbwd_cpu"]),
            "fwd_mib": peak_bytes(forward, device) / 2**20,
            "fwdbwd_mib": peak_bytes(forward_backward, device) / 2**20,
        }
    return results


# ---------------------------------------------------------------- roofline (CPU)

def cpu_peak(threads):
    """The machine's assumed peak for ``threads`` cores, from /proc/cpuinfo: float32 lanes per
    vector (AVX-512: 16, AVX2: 8, else 4), two FMA units and two vector loads per core and cycle
    (Intel cores since Haswell/Skylake-SP), at the clock /proc/cpuinfo reports (the nominal clock on
    a VM; turbo would raise the peak)."""
    flags, mhz = set(), 0.0
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("cpu MHz"):
                mhz = max(mhz, float(line.split(":", 1)[1]))
    isa, lanes = ("AVX-512", 16) if "avx512f" in flags else ("AVX2", 8) if "avx2" in flags else ("SSE", 4)
    ghz = mhz / 1e3 if mhz else 2.0
    return {"isa": isa, "ghz": ghz, "threads": threads,
            "fma_per_s": threads * 2 * lanes * ghz * 1e9,          # float32 multiply-adds
            "load_bytes_per_s": threads * 2 * lanes * 4 * ghz * 1e9}  # L1 vector loads


def kernel_work(batch, levels, queries, dtype):
    """Multiply-adds and bytes of one call (forward, and forward + backward).

    Every sampling point reads 4 corner rows of D channels and does D multiply-adds per corner;
    the backward does two per corner and channel (the dot product with grad_output for the
    location gradient, the scatter into grad_value) and reads and writes the float32 grad_value
    row. "gathered" counts those corner-row bytes (served by the caches); "compulsory" counts each
    tensor once (what must at least cross the memory bus)."""
    element = torch.empty((), dtype=dtype).element_size()
    tokens = sum(h * w for h, w in levels)
    points = batch * queries * HEADS * len(levels) * POINTS
    corner_values = points * 4 * CHANNELS
    value_bytes = batch * tokens * HEADS * CHANNELS * element
    coord_bytes = points * 3 * 4  # x, y, weight (float32 for reduced value dtypes)
    out_bytes = batch * queries * HEADS * CHANNELS * element
    forward = {"macs": corner_values, "gathered": corner_values * element,
               "compulsory": value_bytes + coord_bytes + out_bytes}
    backward_grad_value = batch * tokens * HEADS * CHANNELS * 4 * 2  # float32 buffer, written and read
    backward = {"macs": 2 * corner_values, "gathered": corner_values * (element + 2 * 4),
                "compulsory": value_bytes + coord_bytes * 2 + out_bytes + backward_grad_value + value_bytes}
    return {"fwd": forward, "fwdbwd": {key: forward[key] + backward[key] for key in forward}}


def roofline_line(label, work, peak, measured_ms):
    bound_s = max(work["macs"] / peak["fma_per_s"], work["gathered"] / peak["load_bytes_per_s"])
    limit = "FMA" if work["macs"] / peak["fma_per_s"] >= work["gathered"] / peak["load_bytes_per_s"] else "loads"
    return (f"  roofline {label:<17}{work['macs'] / 1e6:>9.1f} M MAC {work['gathered'] / 2**20:>8.1f} MiB gathered "
            f"{work['compulsory'] / 2**20:>7.1f} MiB compulsory | peak-bound {1e3 * bound_s:>7.2f} ms ({limit}), "
            f"measured {measured_ms:>8.2f} ms = {100 * 1e3 * bound_s / measured_ms:>5.1f}% of peak, "
            f"{work['macs'] / measured_ms / 1e6:>6.1f} GMAC/s")


# ---------------------------------------------------------------- reporting

SUMMARY = []  # one row per measurement, printed at the end


def summary_table():
    """The ratios of every measurement in one table (what tools/check_cuda.sh shows)."""
    lines = [f"  {'device':<8}{'threads':>8}  {'shape':<21}{'dtype':<10}{'kernel fwd ms':>14}{'x ref':>8}"
             f"{'kernel f+b ms':>14}{'x ref':>8}"]
    for row in SUMMARY:
        lines.append(f"  {row['device']:<8}{row['threads']:>8}  {row['shape']:<21}{row['dtype']:<10}"
                     f"{row['fwd_ms']:>14.2f}{row['fwd_x']:>7.1f}x{row['fwdbwd_ms']:>14.2f}{row['fwdbwd_x']:>7.1f}x")
    return "\n".join(lines)


def add_summary(device, threads, shape, dtype_name, results, clock):
    kernel, reference = results["kernel"], results["reference"]
    SUMMARY.append({"device": device, "threads": threads, "shape": shape, "dtype": dtype_name,
                    "fwd_ms": kernel["fwd" + clock], "fwd_x": reference["fwd" + clock] / max(kernel["fwd" + clock], 1e-12),
                    "fwdbwd_ms": kernel["fwdbwd" + clock],
                    "fwdbwd_x": reference["fwdbwd" + clock] / max(kernel["fwdbwd" + clock], 1e-12)})


def report(title, results):
    reference, kernel = results["reference"], results["kernel"]
    print(f"\n{title}")
    print(f"  {'metric':<31}{'reference':>12}{'kernel':>12}{'ref/kernel':>12}")
    rows = (("forward ms (best)", "fwd_ms"), ("forward ms (median)", "fwd_ms_median"),
            ("forward CPU ms (best)", "fwd_cpu_ms"),
            ("forward+backward ms (best)", "fwdbwd_ms"), ("forward+backward ms (median)", "fwdbwd_ms_median"),
            ("forward+backward CPU ms (best)", "fwdbwd_cpu_ms"),
            ("forward peak MiB", "fwd_mib"), ("forward+backward peak MiB", "fwdbwd_mib"))
    for label, key in rows:
        ratio = f"{reference[key] / kernel[key]:>11.2f}x" if kernel[key] > 0 else f"{'n/a':>12}"
        print(f"  {label:<31}{reference[key]:>12.2f}{kernel[key]:>12.2f}{ratio}")
    return {key: reference[key] / max(kernel[key], 1e-12) for key, _ in ((k, None) for _, k in rows)}


def goal_line(ratios):
    """The issue's goal, judged on CPU time (at one thread the same as wall time on an idle machine,
    and far less disturbed by other processes on a shared one)."""
    met = ratios["fwd_cpu_ms"] >= GOALS["fwd"] and ratios["fwdbwd_cpu_ms"] >= GOALS["fwdbwd"]
    return (f"  goal (encoder_512, 1 thread, float32, CPU time: kernel >= {GOALS['fwd']:.0f}x the reference "
            f"forward, >= {GOALS['fwdbwd']:.0f}x forward+backward): {'MET' if met else 'NOT MET'} "
            f"({ratios['fwd_cpu_ms']:.1f}x, {ratios['fwdbwd_cpu_ms']:.1f}x)")


def load_line(when):
    with contextlib.suppress(OSError):
        load = os.getloadavg()[0]
        cores = os.cpu_count()
        busy = " (other processes share the CPU: times are noisy, ratios less so)" if load > 1 else ""
        return f"load average {when}: {load:.2f} on {cores} cores{busy}"
    return f"load average {when}: unknown"


def run_cpu(threads_list, shapes, dtypes, repeats, locations):
    if not ops.kernel_available("cpu"):
        print("CPU: ops._C is not built; nothing to compare (run `pip install --no-build-isolation -e .`)")
        return
    previous = torch.get_num_threads()
    for threads in threads_list:
        torch.set_num_threads(threads)
        peak = cpu_peak(threads)
        print(f"\nCPU peak assumed for {threads} thread(s): {peak['isa']}, {peak['ghz']:.2f} GHz, "
              f"{peak['fma_per_s'] / 1e9:.0f} G float32 MAC/s, {peak['load_bytes_per_s'] / 1e9:.0f} GB/s L1 loads")
        for dtype_name in dtypes:
            dtype = DTYPES[dtype_name]
            for shape in shapes:
                batch, levels, queries = SHAPES[shape]
                queries = num_queries(levels, queries)
                tensors, grad_output = make_inputs(batch, levels, queries, "cpu", dtype, locations)
                results = measure(tensors, grad_output, "cpu", repeats)
                ratios = report(f"CPU, {threads} thread(s), {shape} (batch={batch}, queries={queries}), {dtype_name}",
                                results)
                work = kernel_work(batch, levels, queries, dtype)
                # One thread: CPU time (free of other processes' time slices); more: wall time.
                clock = "_cpu_ms" if threads == 1 else "_ms"
                print(roofline_line("forward", work["fwd"], peak, results["kernel"]["fwd" + clock]))
                print(roofline_line("forward+backward", work["fwdbwd"], peak, results["kernel"]["fwdbwd" + clock]))
                add_summary("cpu", threads, shape, dtype_name, results, clock)
                if shape == "encoder_512" and threads == 1 and dtype_name == "float32":
                    print(goal_line(ratios))
    torch.set_num_threads(previous)


def run_cuda(shapes, dtypes, repeats, locations):
    if not (torch.cuda.is_available() and ops.kernel_available("cuda")):
        print("\nCUDA: skipped (no GPU, or ops._C built without the CUDA kernel)")
        return
    print(f"\nCUDA device: {torch.cuda.get_device_name()}")
    for dtype_name in dtypes:
        for shape in shapes:
            batch, levels, queries = SHAPES[shape]
            queries = num_queries(levels, queries)
            tensors, grad_output = make_inputs(batch, levels, queries, "cuda", DTYPES[dtype_name], locations)
            results = measure(tensors, grad_output, "cuda", repeats)
            report(f"CUDA, {shape} (batch={batch}, queries={queries}), {dtype_name}", results)
            add_summary("cuda", "-", shape, dtype_name, results, "_ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement")
    parser.add_argument("--device", nargs="+", default=["cpu", "cuda"], choices=["cpu", "cuda"])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--locations", default="model", choices=["model", "uniform", "random"],
                        help="sampling locations as a model makes them, uniform in [-0.05, 1.05] "
                             "(no locality), or random in [0, 1]")
    parser.add_argument("--dtype", nargs="+", default=["float32"], choices=list(DTYPES),
                        help="value dtype (locations and weights follow it)")
    args = parser.parse_args()
    compiled = ops._extension.compiled_module()
    kernel_build = getattr(compiled, "cpu_kernel_capability", lambda: "unknown")() if compiled else "none"
    print(f"torch {torch.__version__}; heads {HEADS}; channels/head {CHANNELS}; points {POINTS}; "
          f"ATen CPU capability {torch.backends.cpu.get_cpu_capability()}, CPU kernel build {kernel_build}; "
          f"locations {args.locations}")
    print(load_line("before"))
    if "cpu" in args.device:
        run_cpu(args.threads, args.shapes, args.dtype, args.repeats, args.locations)
    if "cuda" in args.device:
        run_cuda(args.shapes, args.dtype, args.repeats, args.locations)
    print("\nSummary (CPU: CPU time at 1 thread, wall time at more; CUDA: wall time; x ref = reference / kernel)")
    print(summary_table())
    print("\n" + load_line("after"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""CPU inference time per image of full-size models, by backend, in one process.

    python tools/benchmarks/inference.py --config-file CFG [CFG ...]
        [--backends reference compile onnxruntime] [--sizes 512x512 800x1216] [--threads 1 2] [--repeats 3]
        [-- KEY VALUE ...]

Every backend runs the model's exported core (``ExportableDetector``: pixel normalisation, backbone,
transformer, heads and top-k detections, tensors in and out; random weights: time does not depend on
them) on one image of each --sizes, at each --threads count:

* eager (always): PyTorch eager, with the compiled deformable-attention kernel where the model has the op;
* reference: eager with the op's pure-PyTorch reference (``ops.set_reference_mode``; "n/a" for a
  model without the op);
* compile: ``torch.compile`` (Inductor), compiled once per image size;
* onnxruntime: the model exported once to ONNX (dynamic sizes) and run in onnxruntime (needs the
  deploy extra, ``pip install -e .[deploy]``).

Best of --repeats after one warm-up, printed as seconds and as the ratio to eager (lower is faster).
Trailing ``KEY VALUE`` pairs override every config (put ``--`` before them: --config-file takes a
list). For example, the deployment table of
docs/deployment.md and the kernel-vs-reference time of the Deformable DETR variants::

    python tools/benchmarks/inference.py --config-file configs/deformable_detr/deformable_detr_refine_r50_50ep.yaml
    python tools/benchmarks/inference.py --backends reference --sizes 512x512 --threads 2 \\
        --config-file configs/deformable_detr/deformable_detr_{single_scale_,,refine_,two_stage_}r50_50ep.yaml
"""
import argparse
import tempfile
from pathlib import Path

import torch

from detectron2.modeling import build_model

import ops
from projects.benchmark.timing import call_times, torch_threads
from projects.config import load_config
from projects.deploy import ExportableDetector, batch_images, export_onnx, export_program, runner_metadata

BACKENDS = ("reference", "compile", "onnxruntime")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", nargs="+", required=True, metavar="CFG", help="one or more configs to time")
    parser.add_argument("--backends", nargs="*", default=["compile", "onnxruntime"], choices=BACKENDS,
                        help="timed beside eager (default: compile onnxruntime)")
    parser.add_argument("--sizes", nargs="+", default=["512x512", "800x1216"], help="HxW of the image")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides applied to every config")
    args = parser.parse_args(argv)
    args.opts = args.opts[1:] if args.opts[:1] == ["--"] else args.opts
    if "reference" in args.backends and not ops.kernel_available("cpu"):
        parser.error("--backends reference compares with the compiled kernel, but ops._C has no CPU kernel: "
                     "build the project first (bash tools/setup_env.sh)")
    return args


def image_batch(size):
    """One random 0..255 image of ``size`` ("HxW") as the exported core's (images [1, 3, H, W], image_sizes [1, 2])."""
    height, width = (int(v) for v in size.split("x"))
    generator = torch.Generator().manual_seed(0)
    return batch_images([torch.rand(3, height, width, generator=generator) * 255])


def onnx_session(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def export_to_onnx(detector, cfg, first_size, folder):
    """The ONNX file of ``detector`` (dynamic sizes: exported on a padded pair, reused for every size)."""
    path = str(Path(folder) / "model.onnx")
    example = batch_images([image_batch(first_size)[0][0], image_batch("320x320")[0][0]])
    export_onnx(export_program(detector, *example), *example, path, runner_metadata(cfg))
    return path


def reference_runner(detector, images, sizes):
    """Eager with the op's reference path (None when the model has no deformable attention)."""
    def run():
        ops.set_reference_mode(detector, True)
        try:
            return detector(images, sizes)
        finally:
            ops.set_reference_mode(detector, False)

    return run if ops.set_reference_mode(detector, False) else None


def time_backends(detector, compiled, onnx_path, images, sizes, threads, args):
    """{backend: best seconds per call, or None where it does not apply} at one size and thread count."""
    runners = {"eager": lambda: detector(images, sizes)}
    if "reference" in args.backends:
        runners["reference"] = reference_runner(detector, images, sizes)
    if "compile" in args.backends:
        runners["compile"] = lambda: compiled(images, sizes)
    best = {}
    with torch.no_grad(), torch_threads(threads):
        for name, run in runners.items():
            best[name] = None if run is None else min(call_times(run, args.repeats))
    if onnx_path is not None:
        session = onnx_session(onnx_path, threads)
        feeds = {"images": images.numpy(), "image_sizes": sizes.numpy()}
        best["onnxruntime"] = min(call_times(lambda: session.run(None, feeds), args.repeats))
    return best


def benchmark_config(config_file, args):
    """[(config, size, threads, {backend: seconds or None})] of one config, printed as they come."""
    cfg = load_config(config_file, ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", *args.opts])
    torch.manual_seed(0)
    detector = ExportableDetector(build_model(cfg).eval())
    compiled = torch.compile(detector) if "compile" in args.backends else None
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = export_to_onnx(detector, cfg, args.sizes[0], folder) if "onnxruntime" in args.backends else None
        for size in args.sizes:
            images, sizes = image_batch(size)
            for threads in args.threads:
                best = time_backends(detector, compiled, onnx_path, images, sizes, threads, args)
                rows.append((config_file, size, threads, best))
                print(f"{cfg.MODEL.META_ARCHITECTURE} {size} threads={threads}: "
                      + ", ".join(f"{name} {cell(seconds)}" for name, seconds in best.items()), flush=True)
    return rows


def cell(seconds, eager=None):
    """"1.234 s", with " (0.56x)" when the eager time is given; "n/a" for a backend that does not apply."""
    if seconds is None:
        return "n/a"
    return f"{seconds:.3f} s" + ("" if eager is None else f" ({seconds / eager:.2f}x)")


def print_table(rows, backends):
    """The Markdown table: seconds per image and ratio to eager (lower is faster)."""
    names = ["eager", *[b for b in BACKENDS if b in backends]]
    print("\nSeconds per image (best of the repeats) and ratio to eager (lower is faster)")
    print("| config | image | threads | " + " | ".join(names) + " |")
    print("|" + " --- |" * (3 + len(names)))
    for config_file, size, threads, best in rows:
        cells = [cell(best["eager"])] + [cell(best[name], best["eager"]) for name in names[1:]]
        print(f"| {config_file} | {size} | {threads} | " + " | ".join(cells) + " |")


def main(argv=None):
    args = parse_args(argv)
    rows = [row for config_file in args.config_file for row in benchmark_config(config_file, args)]
    print_table(rows, args.backends)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""CPU inference time per image of full-size models, by backend, in one process.

    python tools/benchmarks/inference.py [--config-file CFG ...]
        [--backends reference compile onnx_gridsample onnx_gather aoti] [--sizes 512x512 800x1216]
        [--threads 1 2] [--repeats 5] [--quick] [-- KEY VALUE ...]

Every backend runs the model's exported core (``ExportableDetector``: pixel normalisation, backbone,
transformer, heads and top-k detections, tensors in and out; random weights: time does not depend on
them) on one image of each --sizes, at each --threads count:

* eager (always): PyTorch eager, with the compiled deformable-attention kernel where the model has the op;
* reference: eager with the op's pure-PyTorch reference (``ops.set_reference_mode``; "n/a" for a
  model without the op);
* compile: ``torch.compile`` (Inductor), compiled once per image size;
* onnx_gridsample / onnx_gather: the model exported once to ONNX (dynamic sizes) with the op's
  grid-sample (old) or gather (default) lowering, run in onnxruntime (needs the deploy extra,
  ``pip install -e .[deploy]``);
* aoti: the model compiled once by AOTInductor (``--format aoti``, dynamic sizes) and loaded back.

The exported backends (ONNX, AOTInductor) run the model with its frozen batch norms folded into the
convolutions, as ``tools/deploy/export_model.py`` exports it; eager, reference and compile run it as
built. Each cell is the median of --repeats calls after one warm-up, with the range [min-max], and
the ratio of medians to eager (lower is faster). Trailing ``KEY VALUE`` pairs override every config
(put ``--`` before them: --config-file takes a list). Without --config-file it times the table of
docs/deployment.md: every config of configs/deploy_benchmark/ (Deformable DETR (+ iterative
refinement), Deformable DETR, Conditional DETR and DETR, R50). Run it on an idle machine (check with ``ps``/``uptime``): other processes inflate and
scatter every time. ``--quick`` checks that every backend runs: one 256x256 image, one thread, two
repeats, one encoder and one decoder layer (not a measurement).
"""
# projects first: importing it imports Detectron2 without its import-time deprecation warnings
import projects  # noqa: F401  isort: skip
import argparse
import copy
import statistics
import tempfile
from pathlib import Path

import torch

from detectron2.modeling import build_model

import ops
from projects.benchmark.timing import call_times, torch_threads
from projects.config import load_config
from projects.deploy import (ExportableDetector, batch_images, export_aoti, export_onnx, export_program, load_aoti,
                             runner_metadata)
from projects.deploy.fold_batchnorm import fold_frozen_batchnorm

BACKENDS = ("reference", "compile", "onnx_gridsample", "onnx_gather", "aoti")
DEFAULT_BACKENDS = ["compile", "onnx_gridsample", "onnx_gather", "aoti"]
# The default table: every config of configs/deploy_benchmark/ (a row is added by adding a config there).
DEFAULT_CONFIGS = sorted(str(path.relative_to(Path(__file__).resolve().parents[2]))
                         for path in (Path(__file__).resolve().parents[2] / "configs" / "deploy_benchmark").glob("*.yaml"))
QUICK = {"sizes": ["256x256"], "threads": [1], "repeats": 2,
         "opts": ["MODEL.DETR.ENC_LAYERS", "1", "MODEL.DETR.DEC_LAYERS", "1"]}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", nargs="+", default=DEFAULT_CONFIGS, metavar="CFG",
                        help="one or more configs to time (default: the four of docs/deployment.md)")
    parser.add_argument("--backends", nargs="*", default=DEFAULT_BACKENDS, choices=BACKENDS,
                        help=f"timed beside eager (default: {' '.join(DEFAULT_BACKENDS)})")
    parser.add_argument("--sizes", nargs="+", default=["512x512", "800x1216"], help="HxW of the image")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="check that every backend runs (not a measurement)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides applied to every config")
    args = parser.parse_args(argv)
    args.opts = args.opts[1:] if args.opts[:1] == ["--"] else args.opts
    if args.quick:
        args.sizes, args.threads, args.repeats = QUICK["sizes"], QUICK["threads"], QUICK["repeats"]
        args.opts = QUICK["opts"] + args.opts
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


def exported_files(detector, cfg, first_size, backends, folder):
    """{backend: file} of the exported backends in ``backends``: the model with its frozen batch
    norms folded, exported once on a padded pair (dynamic sizes: reused for every size)."""
    wanted = [name for name in backends if name.startswith("onnx_") or name == "aoti"]
    if not wanted:
        return {}
    folded = ExportableDetector(copy.deepcopy(detector.model))
    fold_frozen_batchnorm(folded.model)
    example = batch_images([image_batch(first_size)[0][0], image_batch("320x320")[0][0]])
    program = export_program(folded, *example)
    files = {}
    for name in wanted:
        files[name] = str(Path(folder) / (f"{name}.onnx" if name != "aoti" else "model_aoti.pt2"))
        if name == "aoti":
            export_aoti(program, files[name], runner_metadata(cfg))
        else:
            export_onnx(program, *example, files[name], runner_metadata(cfg), lowering=name[len("onnx_"):])
    return files


def reference_runner(detector, images, sizes):
    """Eager with the op's reference path (None when the model has no deformable attention)."""
    def run():
        ops.set_reference_mode(detector, True)
        try:
            return detector(images, sizes)
        finally:
            ops.set_reference_mode(detector, False)

    return run if ops.set_reference_mode(detector, False) else None


def exported_runner(name, path, images, sizes, threads):
    """A call of the exported file ``path`` of backend ``name`` on (images, sizes)."""
    if name == "aoti":
        compiled = load_aoti(path)[0]
        return lambda: compiled(images, sizes)
    session = onnx_session(path, threads)
    feeds = {"images": images.numpy(), "image_sizes": sizes.numpy()}
    return lambda: session.run(None, feeds)


def time_backends(detector, compiled, files, images, sizes, threads, args):
    """{backend: [seconds of each repeat], or None where it does not apply} at one size and thread count."""
    runners = {"eager": lambda: detector(images, sizes)}
    if "reference" in args.backends:
        runners["reference"] = reference_runner(detector, images, sizes)
    if "compile" in args.backends:
        runners["compile"] = lambda: compiled(images, sizes)
    times = {}
    with torch.no_grad(), torch_threads(threads):
        for name in args.backends:
            if name in files:
                runners[name] = exported_runner(name, files[name], images, sizes, threads)
        for name, run in runners.items():
            times[name] = None if run is None else call_times(run, args.repeats)
    return times


def benchmark_config(config_file, args):
    """[(config, size, threads, {backend: seconds or None})] of one config, printed as they come."""
    cfg = load_config(config_file, ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", *args.opts])
    torch.manual_seed(0)
    detector = ExportableDetector(build_model(cfg).eval())
    compiled = torch.compile(detector) if "compile" in args.backends else None
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        files = exported_files(detector, cfg, args.sizes[0], args.backends, folder)
        for size in args.sizes:
            images, sizes = image_batch(size)
            for threads in args.threads:
                times = time_backends(detector, compiled, files, images, sizes, threads, args)
                rows.append((config_file, size, threads, times))
                print(f"{cfg.MODEL.META_ARCHITECTURE} {size} threads={threads}: "
                      + ", ".join(f"{name} {cell(seconds)}" for name, seconds in times.items()), flush=True)
    return rows


def cell(seconds, eager=None):
    """"1.234 s [1.201-1.310]" (median [min-max]), with " (0.56x)" (ratio of medians) when eager's
    times are given; "n/a" for a backend that does not apply."""
    if seconds is None:
        return "n/a"
    median = statistics.median(seconds)
    text = f"{median:.3f} s [{min(seconds):.3f}-{max(seconds):.3f}]"
    return text + ("" if eager is None else f" ({median / statistics.median(eager):.2f}x)")


def print_table(rows, backends, repeats):
    """The Markdown table: seconds per image and ratio to eager (lower is faster)."""
    names = ["eager", *[b for b in BACKENDS if b in backends]]
    print(f"\nSeconds per image: median [min-max] of {repeats} calls, and ratio of medians to eager (lower is faster)")
    print("| config | image | threads | " + " | ".join(names) + " |")
    print("|" + " --- |" * (3 + len(names)))
    for config_file, size, threads, times in rows:
        cells = [cell(times["eager"])] + [cell(times[name], times["eager"]) for name in names[1:]]
        print(f"| {config_file} | {size} | {threads} | " + " | ".join(cells) + " |")


def main(argv=None):
    args = parse_args(argv)
    rows = [row for config_file in args.config_file for row in benchmark_config(config_file, args)]
    print_table(rows, args.backends, args.repeats)


if __name__ == "__main__":
    main()

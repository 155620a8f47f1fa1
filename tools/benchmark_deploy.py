#!/usr/bin/env python
"""CPU inference time per image of a full-size model: eager vs torch.compile vs onnxruntime.

    python tools/benchmark_deploy.py [--config-file configs/deformable_detr/deformable_detr_refine_r50_50ep.yaml]
        [--sizes 512x512 800x1216] [--threads 1 2] [--repeats 3]

Default model: R50 Deformable DETR, multi-scale + iterative box refinement (random weights: time
does not depend on them). For each image size and thread count, in one process: the exported
core (``ExportableDetector``) run eagerly, compiled with torch.compile (Inductor) and as an ONNX
file in onnxruntime; best of --repeats after a warm-up, printed as seconds and as ratios to eager.
The ONNX file is exported once (dynamic sizes) and reused; torch.compile compiles per size.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectron2.modeling import build_model  # noqa: E402

from projects.deploy import ExportableDetector, batch_images, export_onnx, export_program, runner_metadata  # noqa: E402
from train_net import load_config  # noqa: E402

DEFAULT_CONFIG = "configs/deformable_detr/deformable_detr_refine_r50_50ep.yaml"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument("--sizes", nargs="+", default=["512x512", "800x1216"], help="HxW of the image")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    return parser.parse_args(argv)


def best_time(run, repeats):
    """Seconds of the fastest of ``repeats`` calls, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def image_batch(size):
    height, width = (int(v) for v in size.split("x"))
    generator = torch.Generator().manual_seed(0)
    return batch_images([torch.rand(3, height, width, generator=generator) * 255])


def onnx_session(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config_file, ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", *args.opts])
    torch.manual_seed(0)
    detector = ExportableDetector(build_model(cfg).eval())
    compiled = torch.compile(detector)
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = str(Path(folder) / "model.onnx")
        example = batch_images([image_batch(args.sizes[0])[0][0], image_batch("320x320")[0][0]])
        export_onnx(export_program(detector, *example), *example, onnx_path, runner_metadata(cfg))
        rows = []
        for size in args.sizes:
            images, sizes = image_batch(size)
            for threads in args.threads:
                torch.set_num_threads(threads)
                session = onnx_session(onnx_path, threads)
                with torch.no_grad():
                    eager = best_time(lambda: detector(images, sizes), args.repeats)
                    inductor = best_time(lambda: compiled(images, sizes), args.repeats)
                feeds = {"images": images.numpy(), "image_sizes": sizes.numpy()}
                ort = best_time(lambda: session.run(None, feeds), args.repeats)
                rows.append((size, threads, eager, inductor, ort))
                print(f"{size} threads={threads}: eager {eager:.3f}s, compile {inductor:.3f}s, onnxruntime {ort:.3f}s",
                      flush=True)
    print(f"\n{cfg.MODEL.META_ARCHITECTURE} ({args.config_file}), seconds per image and ratio to eager (lower is faster)")
    print("| image | threads | eager | torch.compile | onnxruntime |")
    print("| --- | --- | --- | --- | --- |")
    for size, threads, eager, inductor, ort in rows:
        print(f"| {size} | {threads} | {eager:.3f} s | {inductor:.3f} s ({inductor / eager:.2f}x) | "
              f"{ort:.3f} s ({ort / eager:.2f}x) |")


if __name__ == "__main__":
    main()

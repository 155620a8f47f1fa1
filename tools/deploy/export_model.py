#!/usr/bin/env python
"""Export a DETR-family model to ONNX or to a torch.export program (Detectron2's export_model.py CLI).

    python tools/deploy/export_model.py --config-file configs/quickstart/deformable_detr_embedded.yaml \\
        --format onnx --output output/export [--sample-image IMAGE] MODEL.WEIGHTS model_final.pth
    python tools/deploy/export_model.py --config-file ... --format torch_export --output output/export ...
    python tools/deploy/export_model.py --config-file ... --format aoti --output output/export ...

What is exported is the model's whole inference as tensors: images [B, 3, H, W] float pixels (0..255,
INPUT.FORMAT channel order, resized as the test loader resizes, zero-padded bottom/right) and
image_sizes [B, 2] int64 (h, w) -> boxes [B, K, 4] (x0, y0, x1, y1 in those pixels), scores [B, K],
labels [B, K]; batch, height and width are dynamic. The output folder gets model.onnx (run it with
tools/deploy/onnx_inference.py), model.pt2 (``import ops`` then ``torch.export.load``) or
model_aoti.pt2 (an AOTInductor package: ``projects.deploy.load_aoti``, or ``import ops`` then
``torch._inductor.aoti_load_package``). Each is checked against the PyTorch model on the sample (or a
synthetic image) before the tool ends. The backbone's frozen batch norms are folded into their
convolutions first (--no-fold-frozen-bn keeps them); --lowering picks the ONNX lowering of the
deformable attention op (gather, the default, or gridsample).
"""
import argparse
import logging
import os

import numpy as np
import torch

from projects.deploy import (
    DEPLOY_EXTRA_HINT, ExportableDetector, example_batch, export_aoti, export_onnx, export_program, load_aoti,
    runner_metadata, save_program,
)
from projects.deploy.fold_batchnorm import fold_frozen_batchnorm
from projects.deploy.requirements import missing_modules
from projects.engine.launch import register_datasets
from projects.visualization import (
    BatchPredictor, ToolInputError, dataset_metadata, exit_on_input_error, read_config, read_image,
    setup_tool_logging,
)

FORMATS = {"onnx": "model.onnx", "torch_export": "model.pt2", "aoti": "model_aoti.pt2"}
LOWERINGS = ("gather", "gridsample")  # projects.deploy.onnx_lowering.LOWERINGS (imported only with onnxscript)
logger = logging.getLogger("export_model")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, metavar="FILE", help="the model's config")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), help="what to write")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--sample-image", help="an image to export with and check on (default: a synthetic one)")
    parser.add_argument("--fold-frozen-bn", action=argparse.BooleanOptionalAction, default=True,
                        help="fold the backbone's FrozenBatchNorm2d into its convolutions (default: on)")
    parser.add_argument("--lowering", choices=LOWERINGS, default="gather",
                        help="ONNX lowering of the deformable attention op (default: gather)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE pairs (MODEL.WEIGHTS x.pth)")
    return parser.parse_args(argv)


def check_inputs(args, cfg):
    """Everything that can be wrong with the request, before any work: a one-line ToolInputError."""
    weights = cfg.MODEL.WEIGHTS
    if weights and "://" not in weights and not os.path.isfile(weights):
        raise ToolInputError(f"MODEL.WEIGHTS file not found: {weights}")
    if args.format == "onnx" and missing_modules("onnx", "onnxscript", "onnxruntime"):
        missing = ", ".join(missing_modules("onnx", "onnxscript", "onnxruntime"))
        raise ToolInputError(f"--format onnx needs {missing}, from the 'deploy' extra: {DEPLOY_EXTRA_HINT}")
    if os.path.isfile(args.output):
        raise ToolInputError(f"--output must be a folder, {args.output} is a file")


def synthetic_image(cfg) -> np.ndarray:
    """A deterministic uint8 [H, W, 3] gradient at the test size (export does not depend on content)."""
    height = cfg.INPUT.MIN_SIZE_TEST
    width = min(cfg.INPUT.MAX_SIZE_TEST, height * 4 // 3)
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 255 // width, ys * 255 // height, (xs + ys) % 256], -1).astype(np.uint8)


def max_differences(actual, expected):
    """{output name: max |actual - expected|} over boxes, scores and labels."""
    names = ("boxes", "scores", "labels")
    return {name: float((torch.as_tensor(a).double() - b.double()).abs().max()) for name, a, b in zip(names, actual, expected)}


def run_exported(args, path, images, sizes, program):
    """The exported artefact's outputs on (images, sizes)."""
    if args.format == "torch_export":
        with torch.no_grad():
            return program.module()(images, sizes)
    if args.format == "aoti":
        with torch.no_grad():
            return load_aoti(path)[0](images, sizes)
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {"images": images.numpy(), "image_sizes": sizes.numpy()})


@exit_on_input_error
def main(argv=None):
    args = parse_args(argv)
    setup_tool_logging("export_model")
    cfg = read_config(args.config_file, args.opts)
    check_inputs(args, cfg)
    image = read_image(args.sample_image, cfg.INPUT.FORMAT) if args.sample_image else synthetic_image(cfg)
    register_datasets(cfg)
    class_names = getattr(dataset_metadata(cfg), "thing_classes", [])
    predictor = BatchPredictor(cfg)  # builds the model and loads MODEL.WEIGHTS (strictly)
    images, sizes = example_batch(predictor.model_input(image)["image"].float())
    if args.fold_frozen_bn:
        logger.info("folded %d frozen batch norms into their convolutions", fold_frozen_batchnorm(predictor.model))
    detector = ExportableDetector(predictor.model)
    program = export_program(detector, images, sizes)
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, FORMATS[args.format])
    metadata = runner_metadata(cfg, class_names)
    if args.format == "torch_export":
        save_program(program, path, metadata)
    elif args.format == "aoti":
        export_aoti(program, path, metadata)
    else:
        export_onnx(program, images, sizes, path, metadata, lowering=args.lowering)
    with torch.no_grad():
        expected = detector(images, sizes)
    differences = max_differences(run_exported(args, path, images, sizes, program), expected)
    logger.info("wrote %s; max |exported - PyTorch| on the sample batch: %s", path,
                ", ".join(f"{name} {value:.3g}" for name, value in differences.items()))
    return path, differences


if __name__ == "__main__":
    main()

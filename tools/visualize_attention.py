#!/usr/bin/env python
"""Draw the mechanism of the configured method for the top-k detections of one image, from the
model's own forward pass (forward hooks on its attention modules).

    python tools/visualize_attention.py --config-file configs/quickstart/smca_single_scale_embedded.yaml \\
        --input datasets/embedded_shapes/val/000000.jpg --output output/attention --top-k 3 \\
        MODEL.WEIGHTS output/quickstart_smca_single_scale/model_final.pth

What is drawn is the method's own mechanism, chosen by the attention recorder its package registers
(``Method.attention_recorders``, projects/registry.py): e.g. decoder
cross-attention per detection, per-head spatial priors, or deformable sampling points per level;
recorders that draw encoder attention also draw it for each --pixel x,y.
"""
import argparse
import logging
from pathlib import Path

from projects.engine.launch import register_datasets
from projects.visualization import (
    BatchPredictor, ToolInputError, dataset_metadata, exit_on_input_error, read_config, read_image,
    setup_tool_logging, to_rgb,
)
from projects.visualization.attention import ImageView, build_recorder, top_detections
from projects.visualization.attention.figures import save_figure

logger = logging.getLogger("visualize_attention")


def pixel(text):
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y (original-image pixels), got {text!r}") from None
    return x, y


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--input", required=True, help="one image")
    parser.add_argument("--output", required=True, help="folder for the figures (PNG)")
    parser.add_argument("--top-k", type=int, default=3, help="how many of the best detections to explain")
    parser.add_argument("--pixel", type=pixel, action="append", default=[], dest="pixels", metavar="X,Y",
                        help="a pixel whose encoder attention to draw (methods whose recorder draws it); repeatable")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE pairs (MODEL.WEIGHTS x)")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        raise ToolInputError(f"--top-k must be at least 1, got {args.top_k}")
    return args


def explain(predictor, image, pixels, top_k):
    """Run the model once with the recorder attached; returns (recorder, detections)."""
    recorder = build_recorder(predictor.model, pixels)
    with recorder.recording(predictor.model):
        predictor([image])
    return recorder, top_detections(recorder.outputs, predictor.model.class_loss, top_k)


@exit_on_input_error
def main(argv=None):
    args = parse_args(argv)
    setup_tool_logging("visualize_attention")
    cfg = read_config(args.config_file, args.opts)
    register_datasets(cfg)
    metadata = dataset_metadata(cfg)
    predictor = BatchPredictor(cfg)
    image = read_image(args.input, predictor.input_format)
    recorder, detections = explain(predictor, image, args.pixels, args.top_k)
    view = ImageView(to_rgb(image, predictor.input_format), recorder.input_hw)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in recorder.figures(view, detections, metadata):
        written.append(str(Path(args.output) / f"{Path(args.input).stem}_{name}.png"))
        save_figure(figure, written[-1])
    logger.info("wrote %d figures to %s", len(written), args.output)
    return written


if __name__ == "__main__":
    main()

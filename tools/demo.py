#!/usr/bin/env python
"""Run any model of this project on images or a video and draw its detections (Detectron2's demo).

    python tools/demo.py --config-file configs/quickstart/detr_embedded.yaml \\
        --input datasets/embedded_shapes/val/00000*.jpg --output output/demo \\
        MODEL.WEIGHTS output/quickstart_detr/model_final.pth
    python tools/demo.py --config-file ... --input my_folder/ --output out/ --confidence-threshold 0.3
    python tools/demo.py --config-file ... --video-input clip.mp4 --output out/clip.mp4 MODEL.WEIGHTS ...

Class names come from the config's test dataset (the 80 COCO names for COCO configs). Images are
resized as in evaluation and predicted --batch-size at a time (padded to the largest in a batch,
as in evaluation; batch 1 gives exactly the per-image result).
"""
import argparse
import logging
import time

import tqdm

# projects before any other Detectron2 import: it imports Detectron2 without its import-time deprecation warnings
from projects.engine.launch import register_datasets
from projects.visualization import (
    BatchPredictor, ToolInputError, VideoReader, VideoWriter, dataset_metadata, draw_predictions,
    exit_on_input_error, from_bgr, list_images, output_file, read_config, read_image, save_image,
    setup_tool_logging, to_rgb,
)
from projects.visualization.cli import DEMO_SCORE_THRESHOLD

from detectron2.utils.video_visualizer import VideoVisualizer  # noqa: E402 (after projects)

logger = logging.getLogger("demo")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, metavar="FILE", help="the model's config")
    parser.add_argument("--input", nargs="+", help="image files, glob patterns or folders")
    parser.add_argument("--video-input", help="a video file")
    parser.add_argument("--output", required=True,
                        help="a folder (one drawing per input), or a file name for a single image or the video")
    parser.add_argument("--confidence-threshold", type=float, default=DEMO_SCORE_THRESHOLD,
                        help="draw detections scoring at least this")
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="config overrides: KEY VALUE pairs (MODEL.WEIGHTS x.pth)")
    args = parser.parse_args(argv)
    if (args.input is None) == (args.video_input is None):
        raise ToolInputError("give exactly one of --input and --video-input")
    if args.batch_size < 1:
        raise ToolInputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not 0.0 <= args.confidence_threshold <= 1.0:
        raise ToolInputError(f"--confidence-threshold must be in [0, 1], got {args.confidence_threshold}")
    return args


def run_on_images(predictor, metadata, args):
    """Predict and draw every input image; returns the written files."""
    paths = list_images(args.input)
    written, seconds = [], 0.0
    with tqdm.tqdm(total=len(paths), unit="image") as progress:
        for start in range(0, len(paths), args.batch_size):
            batch = paths[start:start + args.batch_size]
            images = [read_image(path, predictor.input_format) for path in batch]
            begin = time.perf_counter()
            results = predictor(images)
            per_image = (time.perf_counter() - begin) / len(batch)
            seconds += per_image * len(batch)
            for path, image, instances in zip(batch, images, results):
                drawn = draw_predictions(to_rgb(image, predictor.input_format), instances, metadata,
                                         args.confidence_threshold)
                written.append(output_file(args.output, path, len(paths)))
                save_image(written[-1], drawn)
                kept = int((instances.scores >= args.confidence_threshold).sum())
                logger.info("%s: %d detections in %.3f s", path, kept, per_image)
            progress.update(len(batch))
    logger.info("%d images, %.3f s per image on average (model only)", len(paths), seconds / len(paths))
    return written


def run_on_video(predictor, metadata, args):
    """Predict and draw every frame of --video-input into one video file; returns [its path]."""
    reader = VideoReader(args.video_input)
    path = output_file(args.output, args.video_input, 1, suffix=".mp4")
    writer, visualizer = VideoWriter(path, reader.fps), VideoVisualizer(metadata)
    try:
        with tqdm.tqdm(total=reader.num_frames or None, unit="frame") as progress:
            for frames in reader.batches(args.batch_size):
                images = [from_bgr(frame, predictor.input_format) for frame in frames]
                for image, instances in zip(images, predictor(images)):
                    kept = instances[instances.scores >= args.confidence_threshold]
                    rgb = to_rgb(image, predictor.input_format)
                    writer.write(visualizer.draw_instance_predictions(rgb, kept).get_image())
                progress.update(len(frames))
    finally:
        writer.close()
    logger.info("wrote %s", path)
    return [path]


@exit_on_input_error
def main(argv=None):
    args = parse_args(argv)
    setup_tool_logging("demo")
    cfg = read_config(args.config_file, args.opts)
    register_datasets(cfg)
    metadata = dataset_metadata(cfg)
    predictor = BatchPredictor(cfg)
    if args.video_input:
        return run_on_video(predictor, metadata, args)
    return run_on_images(predictor, metadata, args)


if __name__ == "__main__":
    main()

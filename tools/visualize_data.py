#!/usr/bin/env python
"""Draw the ground truth of the config's training data, to check a dataset and the augmentation.

    python tools/visualize_data.py --config-file configs/quickstart/detr_embedded.yaml \\
        --source annotation --output output/data_raw --num-images 8
    python tools/visualize_data.py --config-file configs/quickstart/detr_embedded.yaml \\
        --source dataloader --output output/data_augmented --num-images 8

``annotation``: the raw annotations of DATASETS.TRAIN on the original images.
``dataloader``: exactly what training feeds the model: the trainer's own data loader with the project's
mapper (flip, resize, crop), boxes as the model receives them.
"""
import argparse
import logging
from pathlib import Path

import tqdm

from projects.engine.launch import register_datasets
from projects.engine.trainer import Trainer
from projects.visualization import (
    ToolInputError, dataset_metadata, draw_annotations, draw_targets, exit_on_input_error, load_dataset,
    read_config, read_image, save_image, setup_tool_logging, to_rgb,
)

logger = logging.getLogger("visualize_data")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--source", choices=["annotation", "dataloader"], required=True,
                        help="raw annotations, or the training data loader's output")
    parser.add_argument("--output", required=True, help="folder for the drawings")
    parser.add_argument("--num-images", type=int, default=16, help="how many images to draw")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE pairs")
    args = parser.parse_args(argv)
    if args.num_images < 1:
        raise ToolInputError(f"--num-images must be at least 1, got {args.num_images}")
    return args


def annotated_images(cfg, metadata, num_images):
    """(name, drawing) for the first ``num_images`` dicts of DATASETS.TRAIN."""
    dataset_dicts = [d for name in cfg.DATASETS.TRAIN for d in load_dataset(name)]
    for item in dataset_dicts[:num_images]:
        image = read_image(item["file_name"], cfg.INPUT.FORMAT)
        yield Path(item["file_name"]).stem + ".png", draw_annotations(to_rgb(image, cfg.INPUT.FORMAT), item, metadata)


def loader_images(cfg, metadata, num_images):
    """(name, drawing) for the first ``num_images`` samples of the training data loader."""
    count = 0
    for batch in Trainer.build_train_loader(cfg):
        for item in batch:
            rgb = to_rgb(item["image"].permute(1, 2, 0).numpy(), cfg.INPUT.FORMAT)
            yield f"{count:04d}_{Path(item['file_name']).stem}.png", draw_targets(rgb, item["instances"], metadata)
            count += 1
            if count == num_images:
                return


@exit_on_input_error
def main(argv=None):
    args = parse_args(argv)
    setup_tool_logging("visualize_data")
    cfg = read_config(args.config_file, args.opts)
    register_datasets(cfg)
    metadata = dataset_metadata(cfg, split="TRAIN")
    source = annotated_images if args.source == "annotation" else loader_images
    Path(args.output).mkdir(parents=True, exist_ok=True)
    written = []
    for name, drawing in tqdm.tqdm(source(cfg, metadata, args.num_images), total=args.num_images, unit="image"):
        written.append(str(Path(args.output) / name))
        save_image(written[-1], drawing)
    if not written:
        raise ToolInputError(f"DATASETS.TRAIN {list(cfg.DATASETS.TRAIN)} holds no image")
    logger.info("wrote %d images to %s", len(written), args.output)
    return written


if __name__ == "__main__":
    main()

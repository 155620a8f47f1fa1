#!/usr/bin/env python
"""Regenerate the README gallery (docs/gallery/*.png) from the quickstart checkpoints.

    bash tools/quickstart.sh                                  # or train_net.py on any quickstart config
    python tools/make_gallery.py                              # every quickstart config with a checkpoint
    python tools/make_gallery.py --configs configs/quickstart/detr_embedded.yaml --output docs/gallery

For each config whose OUTPUT_DIR holds model_final.pth: the demo's drawing of --image
(demo_<config>.png) and the first attention figure of its method (attention_<config>.png),
shrunk to --max-width pixels. Trailing KEY VALUE overrides apply to every config.
"""
import argparse
import importlib.util
import logging
import os
import tempfile
from pathlib import Path

from PIL import Image

from projects.visualization import ToolInputError, exit_on_input_error, read_config, setup_tool_logging

TOOLS = Path(__file__).resolve().parent
logger = logging.getLogger("make_gallery")
DEFAULT_IMAGE = "datasets/embedded_shapes/val/000003.jpg"


def load_sibling_tool(name):
    """tools/<name>.py as a module: the gallery is drawn by the demo and attention tools themselves
    (tools/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"tools_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo, visualize_attention = load_sibling_tool("demo"), load_sibling_tool("visualize_attention")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", help="default: every configs/quickstart/*.yaml",
                        default=sorted(str(p) for p in (TOOLS.parent / "configs/quickstart").glob("*.yaml")))
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="the image every model is shown on")
    parser.add_argument("--output", default=str(TOOLS.parent / "docs/gallery"))
    parser.add_argument("--max-width", type=int, default=720, help="PNGs wider than this are shrunk")
    parser.add_argument("--confidence-threshold", type=float, default=0.3)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides for every config")
    return parser.parse_args(argv)


def checkpoint_of(config_file, opts):
    """OUTPUT_DIR/model_final.pth of the config, or None when it has not been trained."""
    path = Path(read_config(config_file, opts).OUTPUT_DIR) / "model_final.pth"
    return str(path) if path.is_file() else None


def shrink_into(source, target, max_width):
    """Copy a PNG to ``target``, resized to at most ``max_width`` pixels wide."""
    image = Image.open(source).convert("RGB")
    if image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
    image.save(target, optimize=True)


def gallery_entries(config_file, args, weights, scratch):
    """[(gallery name, drawn PNG)] for one trained config: its demo drawing and first attention figure."""
    name = Path(config_file).stem.replace("_embedded", "")
    opts = [*args.opts, "MODEL.WEIGHTS", weights]
    drawn = demo.main(["--config-file", config_file, "--input", args.image, "--output", os.path.join(scratch, name),
                       "--confidence-threshold", str(args.confidence_threshold), *opts])
    figures = visualize_attention.main(["--config-file", config_file, "--input", args.image, "--output",
                                        os.path.join(scratch, name + "_attention"), "--top-k", "1", *opts])
    return [(f"demo_{name}.png", drawn[0]), (f"attention_{name}.png", figures[0])]


@exit_on_input_error
def main(argv=None):
    args = parse_args(argv)
    setup_tool_logging("make_gallery")
    trained = {config: checkpoint_of(config, args.opts) for config in args.configs}
    for config in [c for c, weights in trained.items() if weights is None]:
        logger.warning("skipping %s: no model_final.pth in its OUTPUT_DIR (train it first)", config)
    if not any(trained.values()):
        raise ToolInputError("no quickstart checkpoint found: run `bash tools/quickstart.sh` (or train_net.py on a "
                             "quickstart config) first")
    Path(args.output).mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for config, weights in trained.items():
            for name, drawn in gallery_entries(config, args, weights, scratch) if weights else []:
                written.append(str(Path(args.output) / name))
                shrink_into(drawn, written[-1], args.max_width)
    logger.info("wrote %d gallery images to %s", len(written), args.output)
    return written


if __name__ == "__main__":
    main()

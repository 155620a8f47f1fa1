"""Shared core of the viewing tools (tools/demo.py, tools/visualize_*.py): input listing, strict
weight loading, batched prediction, drawing with Detectron2's Visualizer, clean one-line errors."""
from projects.visualization.cli import exit_on_input_error, read_config, setup_tool_logging
from projects.visualization.drawing import (
    dataset_metadata,
    draw_annotations,
    draw_predictions,
    draw_targets,
    load_dataset,
    require_dataset,
    side_by_side,
)
from projects.visualization.inputs import ToolInputError, from_bgr, list_images, output_file, read_image, save_image, to_rgb
from projects.visualization.predictor import BatchPredictor
from projects.visualization.video import VideoReader, VideoWriter
from projects.visualization.weights import load_weights

__all__ = [
    "BatchPredictor",
    "ToolInputError",
    "VideoReader",
    "VideoWriter",
    "dataset_metadata",
    "draw_annotations",
    "draw_predictions",
    "draw_targets",
    "exit_on_input_error",
    "from_bgr",
    "list_images",
    "load_dataset",
    "load_weights",
    "output_file",
    "read_config",
    "read_image",
    "require_dataset",
    "save_image",
    "setup_tool_logging",
    "side_by_side",
    "to_rgb",
]

"""What the viewing tools read and write: image lists from files/globs/folders, images, videos,
output paths. Every problem a user can cause is raised as ``ToolInputError`` with a one-line message."""
import glob
import os
from pathlib import Path
from typing import List, Sequence

import numpy as np
from PIL import Image

from detectron2.data import detection_utils

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ToolInputError(ValueError):
    """A bad input to a tool (file, folder, checkpoint, option); the message is one line for the user."""


def list_images(patterns: Sequence[str]) -> List[str]:
    """Expand files, glob patterns and folders (their image files, sorted) into a list of paths.

    Raises ToolInputError when a pattern matches nothing or a folder holds no image.
    """
    paths: List[str] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = sorted(str(p) for p in Path(pattern).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise ToolInputError(f"folder {pattern} holds no image ({', '.join(IMAGE_EXTENSIONS)})")
        else:
            found = sorted(glob.glob(os.path.expanduser(pattern)))
            if not found:
                raise ToolInputError(f"no such image file: {pattern}")
        paths.extend(found)
    return paths


def read_image(path: str, image_format: str) -> np.ndarray:
    """The image at ``path`` as uint8 [H, W, C] in ``image_format`` (e.g. "RGB"), EXIF rotation applied."""
    try:
        return detection_utils.read_image(path, format=image_format)
    except (OSError, SyntaxError, ValueError) as error:  # PIL raises these for missing/corrupt files
        raise ToolInputError(f"cannot read image {path}: {error}") from None


def to_rgb(image: np.ndarray, image_format: str) -> np.ndarray:
    """uint8 [H, W, 3] RGB copy of an image in the model's input format."""
    return np.ascontiguousarray(detection_utils.convert_image_to_rgb(image, image_format)).astype(np.uint8)


def from_bgr(frame: np.ndarray, image_format: str) -> np.ndarray:
    """An OpenCV (BGR) frame [H, W, 3] in the model's input format ("RGB" or "BGR")."""
    if image_format == "BGR":
        return frame
    if image_format == "RGB":
        return np.ascontiguousarray(frame[:, :, ::-1])
    raise ToolInputError(f"video input needs INPUT.FORMAT RGB or BGR, got {image_format}")


def output_file(output: str, input_path: str, num_inputs: int, suffix: str = "") -> str:
    """Where the drawing of ``input_path`` goes: ``output`` itself when it names a file (one input
    only), else ``output/<input file name>`` (``suffix`` replaces the extension when given)."""
    name = Path(input_path).name if not suffix else Path(input_path).stem + suffix
    if Path(output).suffix and not os.path.isdir(output):
        if num_inputs != 1:
            raise ToolInputError(f"--output {output} is a file but there are {num_inputs} inputs; give a folder")
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        return output
    os.makedirs(output, exist_ok=True)
    return os.path.join(output, name)


def save_image(path: str, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image [H, W, 3] (format from the extension)."""
    Image.fromarray(rgb).save(path)

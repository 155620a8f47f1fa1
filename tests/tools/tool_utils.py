"""Helpers for the tests of the viewing tools: load a tool script as a module, tiny model overrides,
PNG inputs (lossless, so "drawn pixels differ from the input" is an exact statement)."""
import importlib.util
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from detectron2.modeling import build_model

from projects.config import load_config
from tests.harness.tiny_models import method_tiny_overrides

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "configs" / "quickstart"
DETR_CONFIG = str(QUICKSTART / "detr_embedded.yaml")

# A few-millisecond model: tiny transformer, small test images, no data-loading workers.
TINY_OPTS = [
    "MODEL.DETR.HIDDEN_DIM", "32", "MODEL.DETR.DIM_FEEDFORWARD", "64", "MODEL.DETR.ENC_LAYERS", "1",
    "MODEL.DETR.DEC_LAYERS", "2", "MODEL.DETR.NUM_OBJECT_QUERIES", "10", "INPUT.MIN_SIZE_TEST", "128",
    "INPUT.MAX_SIZE_TEST", "192", "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "192",
    "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2", "MODEL.WEIGHTS", "",
]

def tiny_opts(config):
    """TINY_OPTS plus what the method of ``config`` (a path) needs to build with them."""
    return [*TINY_OPTS, *method_tiny_overrides(str(config))]


def load_tool(name):
    """tools/<name>.py as a module (tools/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


def changed_pixels(drawn, original):
    """Number of pixels whose colour differs between two same-sized uint8 RGB images."""
    assert drawn.shape == original.shape, (drawn.shape, original.shape)
    return int((drawn != original).any(axis=-1).sum())


def copy_as_png(sources, folder):
    """Lossless copies of image files as PNG in ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in sources:
        paths.append(folder / (Path(source).stem + ".png"))
        Image.open(source).convert("RGB").save(paths[-1])
    return [str(p) for p in paths]


def save_random_checkpoint(config_file, opts, path):
    """A checkpoint of the randomly initialised model of ``config_file`` + ``opts`` (Detectron2 layout)."""
    torch.manual_seed(0)
    model = build_model(load_config(config_file, [*opts, "MODEL.DEVICE", "cpu"]))
    torch.save({"model": model.state_dict()}, path)
    return str(path)

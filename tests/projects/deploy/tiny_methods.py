"""Tiny CPU versions of every method's quickstart config, and images to export and compare with."""
import os
from pathlib import Path

import torch

from detectron2.modeling import build_model

from projects.config import load_config
from tests.harness.tiny_models import method_tiny_overrides

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "configs" / "quickstart"
# every quickstart config (one per method and variant), named by its file stem
METHODS = sorted(path.stem for path in QUICKSTART.glob("*.yaml"))
TINY = ["MODEL.DETR.HIDDEN_DIM", 32, "MODEL.DETR.NHEADS", 4, "MODEL.DETR.DIM_FEEDFORWARD", 64,
        "MODEL.DETR.ENC_LAYERS", 1, "MODEL.DETR.DEC_LAYERS", 1, "MODEL.DETR.NUM_OBJECT_QUERIES", 10,
        "MODEL.DETR.NUM_TOPK_TEST", 20, "MODEL.DEVICE", "cpu"]


def tiny_config(method, extra=()):
    """The frozen tiny config of ``method`` (a name in METHODS)."""
    config_file = str(QUICKSTART / f"{method}.yaml")
    return load_config(config_file, TINY + method_tiny_overrides(config_file) + list(extra))


def tiny_model(method, seed=0):
    """A randomly initialised (seeded) tiny model of ``method`` in eval mode."""
    torch.manual_seed(seed)
    return build_model(tiny_config(method)).eval()


def random_images(sizes, seed):
    """Float [3, h, w] images with pixel values 0..255 for each (h, w)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(3, h, w, generator=generator) * 255 for h, w in sizes]


def embedded_val_images(count=2):
    """Paths of the first validation images of the registered embedded dataset: the session's small
    copy in the test process; spawned workers, where nothing is registered, use the default cache."""
    from projects.data import register_embedded_dataset
    from projects.data.embedded_dataset import image_folder

    root = register_embedded_dataset()
    folder = Path(image_folder(root, "val"))
    return [str(folder / name) for name in sorted(os.listdir(folder))[:count]]

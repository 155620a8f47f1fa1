"""Tiny CPU versions of every method's quickstart config, and images to export and compare with."""
import os
from pathlib import Path

import torch

from detectron2.modeling import build_model

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "configs" / "quickstart"
METHODS = {
    "detr": "detr_embedded.yaml",
    "deformable_single_scale": "deformable_detr_single_scale_embedded.yaml",
    "deformable": "deformable_detr_embedded.yaml",
    "deformable_refine": "deformable_detr_refine_embedded.yaml",
    "deformable_two_stage": "deformable_detr_two_stage_embedded.yaml",
    "conditional_detr": "conditional_detr_embedded.yaml",
    "smca_single_scale": "smca_single_scale_embedded.yaml",
    "smca_multi_scale": "smca_multi_scale_embedded.yaml",
}
TINY = ["MODEL.DETR.HIDDEN_DIM", 32, "MODEL.DETR.NHEADS", 4, "MODEL.DETR.DIM_FEEDFORWARD", 64,
        "MODEL.DETR.ENC_LAYERS", 1, "MODEL.DETR.DEC_LAYERS", 1, "MODEL.DETR.NUM_OBJECT_QUERIES", 10,
        "MODEL.DETR.NUM_TOPK_TEST", 20, "MODEL.DEVICE", "cpu"]
EXTRA = {"smca_multi_scale": ["MODEL.SMCA.ENCODER_BLOCKS", ["multi"]]}


def tiny_config(method, extra=()):
    """The frozen tiny config of ``method`` (a key of METHODS)."""
    from train_net import load_config  # the repository root is on sys.path in tests

    return load_config(str(QUICKSTART / METHODS[method]), TINY + EXTRA.get(method, []) + list(extra))


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

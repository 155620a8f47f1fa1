"""Writing the pretrained trunk as a Detectron2 weights file, and reading a stored one's settings.

The file is what the ImageNet R-50.pkl of the full-size configs is: {"model": {name: array}} with
the ResNet's own parameter names ("stem.conv1.weight", "res2.0.conv1.norm.running_mean", ...) and
``matching_heuristics``, so MODEL.WEIGHTS loads it into any detector's backbone by name suffix.
"""
import os
import pickle
from pathlib import Path
from typing import Dict, Optional

from torch import nn

from projects.checkpoint.files import atomic_write, read_pickled_weights

AUTHOR = "embedded_shapes shape-presence pretraining (tools/pretrain_backbone.py); not ImageNet"


def trunk_arrays(trunk: nn.Module) -> Dict:
    """float32 numpy arrays of the trunk's parameters and BatchNorm statistics (no step counters)."""
    return {name: value.detach().cpu().float().numpy() for name, value in trunk.state_dict().items()
            if not name.endswith("num_batches_tracked")}


def write_trunk_file(path: os.PathLike, trunk: nn.Module, pretraining: Dict) -> Path:
    """Write the Detectron2 weights file with the project's ``atomic_write``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": trunk_arrays(trunk), "__author__": AUTHOR, "matching_heuristics": True,
               "pretraining": pretraining}
    atomic_write(path, lambda f: pickle.dump(payload, f, protocol=4))
    return path


def stored_pretraining(path: os.PathLike) -> Optional[Dict]:
    """The "pretraining" record of a trunk file made here, or None if the file is missing or not one."""
    if not Path(path).is_file():
        return None
    data = read_pickled_weights(str(path))
    if not isinstance(data, dict) or data.get("__author__") != AUTHOR:
        return None
    return data.get("pretraining")

"""Run tools/convert_checkpoint.py in-process, and write files the way the official training scripts do."""
import argparse
import importlib.util
from functools import lru_cache
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "convert_checkpoint.py"


@lru_cache(maxsize=None)
def load_convert_tool():
    """The CLI module (tools/ is not a package); ``load_convert_tool().main([...])`` runs it."""
    spec = importlib.util.spec_from_file_location("convert_checkpoint", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_official(path, state_dict, epoch=49):
    """``path`` in the layout of the official ``main.py`` checkpoints: {"model", "optimizer", "lr_scheduler",
    "epoch", "args"} with ``args`` an argparse.Namespace. Returns ``str(path)``."""
    torch.save({
        "model": state_dict,
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-5, "betas": (0.9, 0.999), "params": [0]}]},
        "lr_scheduler": {"step_size": 40, "gamma": 0.1, "last_epoch": epoch},
        "epoch": epoch,
        "args": argparse.Namespace(lr=2e-4, lr_backbone_names=["backbone.0"], frozen_weights=None, epochs=50),
    }, path)
    return str(path)

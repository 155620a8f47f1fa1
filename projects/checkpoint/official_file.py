"""Read official checkpoint files and write converted ones.

Official training scripts (``main.py`` of each method's official repository) save
``{"model", "optimizer", "lr_scheduler", "epoch", "args"}``: tensors, plain containers and numbers,
plus ``args``, an ``argparse.Namespace``. The file is read by the project's one safe reader
(``projects.checkpoint.files``) with exactly that class allowed, for this read only: a file holding
anything else (a pickle crafted to run code, say) is refused before any of its objects is built.
"""
import argparse
from pathlib import Path
from typing import Dict

import torch

from projects.checkpoint.files import CorruptCheckpointError, atomic_write, read_torch_file

# The only non-tensor class an official checkpoint holds (the training script's parsed arguments).
OFFICIAL_CHECKPOINT_GLOBALS = [argparse.Namespace]


def read_checkpoint_file(path) -> object:
    """Whatever the checkpoint file holds, read with ``weights_only=True`` plus the official allow-list."""
    return read_torch_file(path, allowed_classes=OFFICIAL_CHECKPOINT_GLOBALS)


def load_official_checkpoint(path) -> Dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint file ({"model": state_dict, ...} or a bare state dict)."""
    checkpoint = read_checkpoint_file(path)
    if isinstance(checkpoint, dict) and "model" in checkpoint:
        checkpoint = checkpoint["model"]
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise CorruptCheckpointError(f"{path}: the checkpoint file does not contain a state dict")
    return checkpoint


def save_converted_checkpoint(converted: Dict[str, torch.Tensor], destination, source) -> None:
    """Write ``{"model": state_dict, "__source__": source}``, the layout Detectron2's checkpointer loads
    as-is, atomically (an interrupted run never leaves a partial file)."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": converted, "__source__": str(source)}
    atomic_write(destination, lambda f: torch.save(payload, f))

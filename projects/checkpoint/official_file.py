"""Read official checkpoint files safely and write converted ones.

Official training scripts (DETR, Deformable DETR, Conditional DETR, SMCA: ``main.py``) save
``{"model", "optimizer", "lr_scheduler", "epoch", "args"}``: tensors, plain containers and numbers,
plus ``args``, an ``argparse.Namespace``. The file is read with ``weights_only=True`` and exactly that
class allowed, for this read only: a file holding anything else (a pickle crafted to run code, say)
is refused before any of its objects is built.
"""
import argparse
import os
import re
from pathlib import Path
from typing import Dict

import torch

from projects.checkpoint.errors import UnreadableCheckpointError

# The only non-tensor class an official checkpoint holds (the training script's parsed arguments).
OFFICIAL_CHECKPOINT_GLOBALS = [argparse.Namespace]
_BLOCKED_GLOBAL = re.compile(r"unsupported GLOBAL (\S+)", re.IGNORECASE)


def _reason(error: Exception) -> str:
    """The informative first sentence of a read error, e.g. ``RuntimeError: PytorchStreamReader failed ...``."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    marker = "WeightsUnpickler error:"  # torch's own wrapper text around the real reason
    for i, line in enumerate(lines):
        if marker in line:
            lines = [line.split(marker, 1)[1].strip() or (lines[i + 1] if i + 1 < len(lines) else "")]
            break
    first = lines[0].split(". ")[0] if lines else ""
    return f"{type(error).__name__}: {first}"[:160] if first else type(error).__name__


def _unreadable(path, error: Exception) -> UnreadableCheckpointError:
    """One line for a failed read: a refused class (unsafe), or a corrupt/truncated file."""
    blocked = _BLOCKED_GLOBAL.search(str(error))
    if blocked:
        return UnreadableCheckpointError(
            f"{path}: refused to load: it holds {blocked[1].rstrip('.')}, which an official checkpoint never "
            "contains (allowed: tensors, plain containers, argparse.Namespace)")
    return UnreadableCheckpointError(f"{path} is corrupt or truncated (not a readable PyTorch checkpoint: "
                                     f"{_reason(error)})")


def read_checkpoint_file(path) -> object:
    """Whatever the checkpoint file holds, read with ``weights_only=True`` plus the official allow-list."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        with torch.serialization.safe_globals(OFFICIAL_CHECKPOINT_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except Exception as error:  # a truncated/corrupt file fails in many types (zip reader, unpickler, EOF)
        raise _unreadable(path, error) from error


def load_official_checkpoint(path) -> Dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint file ({"model": state_dict, ...} or a bare state dict)."""
    checkpoint = read_checkpoint_file(path)
    if isinstance(checkpoint, dict) and "model" in checkpoint:
        checkpoint = checkpoint["model"]
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise UnreadableCheckpointError(f"{path} does not contain a state dict")
    return checkpoint


def save_converted_checkpoint(converted: Dict[str, torch.Tensor], destination, source) -> None:
    """Write ``{"model": state_dict, "__source__": source}``, the layout Detectron2's checkpointer loads as-is.

    Written to a temporary file renamed into place, so an interrupted run never leaves a partial file.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    torch.save({"model": converted, "__source__": str(source)}, partial)
    os.replace(partial, destination)

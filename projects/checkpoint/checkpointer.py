"""A DetectionCheckpointer that reads weights safely, reports bad files clearly and saves atomically.

- Files are read by the project's one safe reader (``projects.checkpoint.files``): ``.pkl`` weights
  (Detectron2 model-zoo and Caffe2/ImageNet layouts) with an unpickler that builds only plain
  containers and numpy arrays, ``.pth`` files with ``torch.load(weights_only=True)``: a crafted
  pickle cannot run code.
- A corrupt or truncated file raises ``CorruptCheckpointError`` (one line: the file and why); a file
  that references code raises ``UnsafeCheckpointError`` naming what it references.
- ``save`` writes with ``atomic_write`` (temporary file, fsync, rename; so does ``last_checkpoint``):
  a run killed while saving leaves the previous checkpoint and pointer intact.
- ``resume_or_load(resume=True)`` falls back from an unreadable last checkpoint to the newest
  readable one in the output folder, with a warning.
- A detector checkpoint must fit the model as ``weights_mode`` (MODEL.WEIGHTS_MODE) asks: see
  ``projects.checkpoint.weights_fit``. Saved checkpoints record the model's class name
  ("meta_architecture") so that a mismatch names the method found.
"""
import logging
import os
from typing import List, Optional

import torch

from detectron2.checkpoint import DetectionCheckpointer

from projects.checkpoint.files import CorruptCheckpointError, atomic_write, read_pickled_weights, read_torch_file
from projects.checkpoint.weights_fit import check_weights_fit

logger = logging.getLogger(__name__)


def model_zoo_weights(data, filename: str) -> dict:
    """A ``.pkl`` payload -> the checkpoint dict Detectron2 loads.

    Detectron2 model-zoo files hold {"model": {name: array}, "__author__": ...} and are used as
    they are; Caffe2/Detectron1 files hold the arrays themselves, detection models under "blobs",
    and are matched to the model's names heuristically (momentum buffers dropped).
    """
    if not isinstance(data, dict):
        raise CorruptCheckpointError(f"{filename}: the checkpoint file holds a {type(data).__name__}, not a dict")
    if "model" in data and "__author__" in data:
        logger.info("Reading a file from '%s'", data["__author__"])
        return data
    arrays = data.get("blobs", data)
    arrays = {k: v for k, v in arrays.items() if not k.endswith("_momentum")}
    return {"model": arrays, "__author__": "Caffe2", "matching_heuristics": True}


def pycls_weights(data, filename: str) -> dict:
    """A pycls ``.pyth`` payload ({"model_state": ...}) -> the checkpoint dict Detectron2 loads (by name matching)."""
    if not isinstance(data, dict) or "model_state" not in data:
        raise CorruptCheckpointError(f"{filename}: a .pyth (pycls) checkpoint must hold 'model_state'")
    state = {k: v for k, v in data["model_state"].items() if not k.endswith("num_batches_tracked")}
    return {"model": state, "__author__": "pycls", "matching_heuristics": True}


class DetrCheckpointer(DetectionCheckpointer):
    """DetectionCheckpointer with safe reading, clear errors, atomic saves, resume fallback and the
    MODEL.WEIGHTS_MODE check."""

    def __init__(self, model, save_dir: str = "", *, weights_mode: str = "strict", **kwargs):
        """``weights_mode``: "strict", "finetune" or "partial" (see ``projects.checkpoint.weights_fit``);
        the other arguments are DetectionCheckpointer's."""
        super().__init__(model, save_dir, **kwargs)
        self.weights_mode = weights_mode
        self._loading = ""

    @classmethod
    def from_config(cls, cfg, model, save_dir: Optional[str] = None, **kwargs) -> "DetrCheckpointer":
        """A checkpointer for ``model`` saving to ``save_dir`` (default OUTPUT_DIR) with MODEL.WEIGHTS_MODE."""
        save_dir = cfg.OUTPUT_DIR if save_dir is None else save_dir
        return cls(model, save_dir, weights_mode=cfg.MODEL.WEIGHTS_MODE, **kwargs)

    def _load_file(self, filename: str):
        if filename.endswith(".pkl"):
            return model_zoo_weights(read_pickled_weights(filename), filename)
        if filename.endswith(".pyth"):
            return pycls_weights(read_torch_file(filename), filename)
        return super()._load_file(filename)  # .pth: via _torch_load below (the parent handles URL queries)

    def _torch_load(self, filename: str):
        return read_torch_file(filename)

    def load(self, path, *args, **kwargs):
        self._loading = path
        try:
            return super().load(path, *args, **kwargs)
        finally:
            self._parsed_url_during_load = None  # the parent leaves it set when loading fails

    def _load_model(self, checkpoint):
        if not checkpoint.get("matching_heuristics", False):  # heuristics: backbone-only zoo weights
            checkpoint["model"] = check_weights_fit(
                self.model.state_dict(), checkpoint["model"], self.weights_mode, source=self._loading,
                found_method=checkpoint.get("meta_architecture"), model_method=type(self.model).__name__,
            )
        return super()._load_model(checkpoint)

    def _is_local(self) -> bool:
        return bool(self.save_dir) and os.path.isdir(self.save_dir)

    def save(self, name: str, **kwargs) -> None:
        """Write ``<save_dir>/<name>.pth`` atomically, then point ``last_checkpoint`` at it."""
        if not self.save_dir or not self.save_to_disk:
            return
        if not self._is_local():  # a remote PathManager folder: no rename there
            return super().save(name, **kwargs)
        data = {"model": self.model.state_dict(), "meta_architecture": type(self.model).__name__}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        self.logger.info("Saving checkpoint to %s", path)
        atomic_write(path, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        if not self._is_local():
            return super().tag_last_checkpoint(last_filename_basename)
        path = os.path.join(self.save_dir, "last_checkpoint")
        atomic_write(path, lambda f: f.write(last_filename_basename.encode()))

    def resume_candidates(self) -> List[str]:
        """The checkpoint named in ``last_checkpoint``, then every other ``.pth``, newest first."""
        named = self.get_checkpoint_file()
        others = [f for f in self.get_all_checkpoint_files() if os.path.abspath(f) != os.path.abspath(named)]
        others.sort(key=lambda f: os.path.getmtime(f), reverse=True)
        return [named] + others

    def resume_or_load(self, path: str, *, resume: bool = True):
        """Like Detectron2's, but an unreadable last checkpoint falls back to the newest readable one."""
        if not (resume and self.has_checkpoint()):
            return self.load(path, checkpointables=[])
        problems = []
        for candidate in self.resume_candidates():
            try:
                if not os.path.isfile(candidate):
                    raise CorruptCheckpointError(f"{candidate}: named in last_checkpoint but missing")
                result = self.load(candidate)
            except CorruptCheckpointError as error:
                logger.warning("Cannot resume from %s; trying the previous checkpoint", error)
                problems.append(str(error))
                continue
            if problems:
                logger.warning("Resumed from %s instead of the last checkpoint", candidate)
            return result
        raise CorruptCheckpointError(f"--resume: no readable checkpoint in {self.save_dir}: " + "; ".join(problems))

"""Checkpoint files on disk: the one safe reader and the one atomic writer of the project.

Reading never runs code stored in a file:

- ``.pkl`` weights (Detectron2 model zoo, Caffe2/ImageNet layouts, the embedded trunk) are read with
  ``WeightsUnpickler``, which builds only plain containers, numbers, strings and numpy arrays;
- every other file is a ``torch.save`` file, read with ``torch.load(weights_only=True)``.

A caller may allow a few more classes for one read (``allowed_classes``; the official training
scripts store an ``argparse.Namespace``). A file that references anything else raises
``UnsafeCheckpointError``; a corrupt, truncated or empty file raises ``CorruptCheckpointError``;
both are ``UnreadableCheckpointError`` and their message is one line starting with the file's name.

Writing (``atomic_write``) goes to a temporary sibling, flushed and fsynced, then renamed into
place: a run killed while writing leaves the previous file intact and no partial file behind.
"""
import collections
import importlib
import os
import pickle
import re
from typing import Callable, Dict, Sequence

import torch

# What a weights file may hold without an allow-list (the words of the "refusing to load" message).
PLAIN_CONTENTS = "tensors, numpy arrays, numbers, strings and plain containers"
# torch's weights-only unpickler: "Unsupported global: GLOBAL posix.mkdir was not an allowed global ..."
# (or "unsupported GLOBAL posix.mkdir whose module posix is blocked").
_REFUSED_GLOBAL = re.compile(r"unsupported (?:global:? )?GLOBAL ([\w.]+)", re.IGNORECASE)
_TORCH_WRAPPER = "WeightsUnpickler error:"  # torch's text around the real reason of a refused load


class UnreadableCheckpointError(RuntimeError):
    """A checkpoint file that cannot be read safely; the message is one line naming the file."""


class CorruptCheckpointError(UnreadableCheckpointError):
    """A checkpoint file that is truncated, corrupt, empty or not a checkpoint."""


class UnsafeCheckpointError(UnreadableCheckpointError):
    """A checkpoint file whose pickle references code (a class or function nobody allowed)."""


class _RefusedGlobal(Exception):
    """Raised inside ``WeightsUnpickler`` with the refused ``module.name``."""


def first_line(error: BaseException) -> str:
    """``Type: first sentence`` of an error (torch's "re-run with weights_only=False" advice left out)."""
    text = str(error)
    if _TORCH_WRAPPER in text:
        text = text.split(_TORCH_WRAPPER, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return f"{type(error).__name__}: {lines[0].split('. ')[0][:200]}"


def _numpy_attr(submodule: str, name: str):
    """``numpy._core.<submodule>.<name>`` (numpy 2) or ``numpy.core.<submodule>.<name>`` (numpy 1)."""
    for package in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{package}.{submodule}"), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {submodule}.{name}")


def _plain_globals() -> Dict[tuple, Callable[[], object]]:
    """(module, name) a weights pickle may reference -> how to get the object."""
    import numpy

    allowed = {
        ("collections", "OrderedDict"): lambda: collections.OrderedDict,
        ("numpy", "ndarray"): lambda: numpy.ndarray,
        ("numpy", "dtype"): lambda: numpy.dtype,
        ("_codecs", "encode"): lambda: __import__("codecs").encode,  # bytes in protocol-2 pickles
    }
    for builtins_name in ("builtins", "__builtin__"):  # __builtin__: Python 2 pickles (Caffe2 zoo)
        for name, obj in (("set", set), ("frozenset", frozenset), ("bytearray", bytearray)):
            allowed[(builtins_name, name)] = lambda obj=obj: obj
    for package in ("numpy._core", "numpy.core"):  # numpy 2 / numpy 1 pickles
        for submodule, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"),
                                ("numeric", "_frombuffer")):
            allowed[(f"{package}.{submodule}", name)] = lambda s=submodule, n=name: _numpy_attr(s, n)
    return allowed


class WeightsUnpickler(pickle.Unpickler):
    """An unpickler that builds only containers, strings, numbers, numpy arrays/scalars and
    ``allowed_classes``; any other reference raises before anything is built."""

    _PLAIN = None

    def __init__(self, file, *, allowed_classes: Sequence[type] = (), **kwargs):
        super().__init__(file, **kwargs)
        self._extra = {(cls.__module__, cls.__qualname__): cls for cls in allowed_classes}

    def find_class(self, module: str, name: str):
        if WeightsUnpickler._PLAIN is None:
            WeightsUnpickler._PLAIN = _plain_globals()
        if (module, name) in self._extra:
            return self._extra[(module, name)]
        getter = WeightsUnpickler._PLAIN.get((module, name))
        if getter is None:
            raise _RefusedGlobal(f"{module}.{name}")
        return getter()


def _unsafe(filename, what: str, allowed_classes: Sequence[type]) -> UnsafeCheckpointError:
    extra = "".join(f", {cls.__module__}.{cls.__qualname__}" for cls in allowed_classes)
    hint = "" if allowed_classes else "; an official training checkpoint: convert it with tools/convert_checkpoint.py"
    return UnsafeCheckpointError(
        f"{filename}: refusing to load: the file references {what.rstrip('.')}, which a weights file never "
        f"holds (allowed: {PLAIN_CONTENTS}{extra}; loading it could run code){hint}")


def _corrupt(filename, error: BaseException) -> CorruptCheckpointError:
    return CorruptCheckpointError(f"{filename}: the checkpoint file is corrupt or truncated ({first_line(error)})")


def _require_file(filename) -> None:
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"{filename}: no such checkpoint file")


# Access problems are not the file's content: they keep their own type.
_NOT_CONTENT = (MemoryError, FileNotFoundError, PermissionError, IsADirectoryError)


def read_pickled_weights(filename, allowed_classes: Sequence[type] = ()):
    """The object in a ``.pkl`` weights file, read with ``WeightsUnpickler`` (latin1 for Python 2 files)."""
    _require_file(filename)
    try:
        with open(filename, "rb") as f:
            return WeightsUnpickler(f, allowed_classes=allowed_classes, encoding="latin1").load()
    except _RefusedGlobal as refused:
        raise _unsafe(filename, str(refused), allowed_classes) from None
    except _NOT_CONTENT:
        raise
    except Exception as error:  # a damaged pickle fails in many types (EOF, unpickling, index, unicode...)
        raise _corrupt(filename, error) from None


def read_torch_file(filename, allowed_classes: Sequence[type] = ()):
    """The object in a ``torch.save`` file, read on the CPU with ``weights_only=True``; ``allowed_classes``
    are allowed for this read only (torch's global safe list is left as it was)."""
    _require_file(filename)
    try:
        with torch.serialization.safe_globals(list(allowed_classes)):
            return torch.load(filename, map_location="cpu", weights_only=True)
    except _NOT_CONTENT:
        raise
    except Exception as error:  # a damaged file fails in many types (zip reader, unpickler, EOF...)
        refused = _REFUSED_GLOBAL.search(str(error))
        if refused:
            raise _unsafe(filename, refused.group(1), allowed_classes) from None
        raise _corrupt(filename, error) from None


def atomic_write(path, write: Callable) -> None:
    """Call ``write(binary_file)`` on a temporary sibling of ``path``, flush and fsync it, then rename it
    to ``path``. If ``write`` raises, the temporary file is removed and ``path`` is left as it was."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)

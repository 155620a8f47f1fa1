"""The one safe reader and the one atomic writer (projects/checkpoint/files.py, issue 19 item 2)."""
import argparse
import os
import pickle

import pytest
import torch

from projects.checkpoint import (
    CorruptCheckpointError, UnreadableCheckpointError, UnsafeCheckpointError, atomic_write, read_pickled_weights,
    read_torch_file,
)


class CodeInPickle:
    """Unpickling this creates the directory ``marker``: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _write(path, payload, suffix):
    if suffix == ".pkl":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    return path


@pytest.mark.parametrize("suffix, read", [(".pkl", read_pickled_weights), (".pth", read_torch_file)])
@pytest.mark.parametrize("allowed", [(), (argparse.Namespace,)])
def test_code_running_pickle_is_refused_naming_the_file(tmp_path, suffix, read, allowed):
    marker = tmp_path / "code_ran"
    path = _write(tmp_path / f"evil{suffix}", {"model": {"w": [0.0, 1.0]}, "extra": CodeInPickle(marker)}, suffix)
    with pytest.raises(UnsafeCheckpointError) as info:
        read(path, allowed)
    assert not marker.exists()
    message = str(info.value)
    assert message.startswith(f"{path}: refusing to load: the file references {os.mkdir.__module__}.mkdir")
    assert "\n" not in message and isinstance(info.value, UnreadableCheckpointError)
    assert ("argparse.Namespace" in message) == bool(allowed)  # the allow-list is named when there is one


@pytest.mark.parametrize("suffix, read", [(".pkl", read_pickled_weights), (".pth", read_torch_file)])
def test_allowed_classes_are_built_for_that_read_only(tmp_path, suffix, read):
    path = _write(tmp_path / f"args{suffix}", {"args": argparse.Namespace(lr=0.5)}, suffix)
    assert read(path, [argparse.Namespace])["args"].lr == 0.5
    with pytest.raises(UnsafeCheckpointError, match="argparse.Namespace"):
        read(path)


@pytest.mark.parametrize("suffix, read", [(".pkl", read_pickled_weights), (".pth", read_torch_file)])
def test_corrupt_and_missing_files_are_named(tmp_path, suffix, read):
    path = _write(tmp_path / f"good{suffix}", {"model": {"w": [float(i) for i in range(1000)]}}, suffix)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptCheckpointError, match=f"^{path}: the checkpoint file is corrupt or truncated"):
        read(path)
    with pytest.raises(FileNotFoundError, match="nothing.pth: no such checkpoint file"):
        read(tmp_path / "nothing.pth")


def test_atomic_write_replaces_the_file(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"old")
    atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["model.pth"]


def test_atomic_write_keeps_the_old_file_when_the_writer_raises(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"old")

    def half_then_fail(f):
        f.write(b"half of the new")
        raise KeyboardInterrupt  # e.g. Ctrl-C while torch.save is writing

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.pth"]  # no temporary file left behind

"""Checkpoint files given as MODEL.WEIGHTS or found by --resume (issue 10, items 3 and 8):
safe reading of .pkl/.pth, one-line errors for corrupt files, crafted pickles never executed."""
import os
import pickle

import numpy as np
import pytest
import torch

from projects.checkpoint import CorruptCheckpointError, DetrCheckpointer, UnsafeCheckpointError


class CodeInPickle:
    """Unpickling this creates the directory ``marker``: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _numpy_state(model, prefix=""):
    return {k[len(prefix):]: v.detach().numpy().copy() for k, v in model.state_dict().items() if k.startswith(prefix)}


def _write_pickle(path, obj, protocol=2):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return str(path)


@pytest.mark.parametrize("protocol", [2, 5])
def test_detectron2_model_zoo_pkl_loads(tmp_path, tiny_detr, protocol):
    arrays = {k: v + 1 for k, v in _numpy_state(tiny_detr).items() if v.dtype == np.float32}
    path = _write_pickle(tmp_path / "zoo.pkl", {"model": arrays, "__author__": "test"}, protocol)
    DetrCheckpointer(tiny_detr).load(path)
    for name, value in tiny_detr.state_dict().items():
        if name in arrays:  # a copy of the stored values, no arithmetic: exact
            torch.testing.assert_close(value, torch.from_numpy(arrays[name]), atol=0, rtol=0)


def test_imagenet_backbone_pkl_loads_by_name_matching(tmp_path, tiny_detr):
    """Detectron2's ImageNet layout: trunk names without the model's prefix, matching_heuristics."""
    trunk = {k: v + 1 for k, v in _numpy_state(tiny_detr, "backbone.body.").items()
             if not k.endswith("num_batches_tracked")}
    path = _write_pickle(tmp_path / "R-18.pkl", {"model": trunk, "__author__": "torchvision",
                                                 "matching_heuristics": True})
    DetrCheckpointer(tiny_detr).load(path)
    loaded = tiny_detr.state_dict()
    for name in ("stem.conv1.weight", "res5.1.conv2.weight", "res3.0.shortcut.norm.running_var"):
        torch.testing.assert_close(loaded["backbone.body." + name], torch.from_numpy(trunk[name]), atol=0, rtol=0)


def test_crafted_pkl_does_not_execute(tmp_path, tiny_detr):
    marker = tmp_path / "code_ran"
    path = _write_pickle(tmp_path / "evil.pkl", {"model": {}, "__author__": CodeInPickle(marker)})
    with open(path, "rb") as f:  # control: plain pickle does run it
        pickle.load(f)
    assert marker.is_dir()
    marker.rmdir()
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pkl: refusing to load: the file references posix\.mkdir"):
        DetrCheckpointer(tiny_detr).load(path)
    assert not marker.exists()


@pytest.mark.parametrize("legacy_format", [False, True])
def test_crafted_pth_does_not_execute(tmp_path, tiny_detr, legacy_format):
    marker = tmp_path / "code_ran"
    path = str(tmp_path / "evil.pth")
    payload = {"model": tiny_detr.state_dict(), "extra": CodeInPickle(marker)}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy_format)
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pth: refusing to load: the file references posix\.mkdir"):
        DetrCheckpointer(tiny_detr).load(path)
    assert not marker.exists()


def _truncated_copy(source, target):
    data = open(source, "rb").read()
    open(target, "wb").write(data[: len(data) // 2])
    return str(target)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
@pytest.mark.parametrize("suffix", [".pth", ".pkl"])
def test_corrupt_files_give_one_line_naming_the_file(tmp_path, tiny_detr, damage, suffix):
    good = str(tmp_path / f"good{suffix}")
    if suffix == ".pth":
        torch.save({"model": tiny_detr.state_dict()}, good)
    else:
        _write_pickle(good, {"model": _numpy_state(tiny_detr), "__author__": "test"})
    bad = tmp_path / f"bad{suffix}"
    if damage == "truncated":
        _truncated_copy(good, bad)
    else:
        bad.write_bytes(b"this is not a checkpoint" if damage == "garbage" else b"")
    with pytest.raises(CorruptCheckpointError) as info:
        DetrCheckpointer(tiny_detr).load(str(bad))
    message = str(info.value)
    assert message.startswith(f"{bad}: the checkpoint file is corrupt or truncated")
    assert "\n" not in message and "weights_only=False" not in message

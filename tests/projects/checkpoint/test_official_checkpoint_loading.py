"""Official checkpoints given to the converter (issue 10, items 3 and 8): read with weights_only=True and
an explicit allow-list (argparse.Namespace), crafted pickles never executed, corrupt files named in one line."""
import argparse
import os
import pickle

import pytest
import torch

from projects.checkpoint import (
    OFFICIAL_CHECKPOINT_GLOBALS, UnreadableCheckpointError, load_official_checkpoint, read_checkpoint_file,
)
from tests.harness.convert_tool import load_convert_tool, save_official
from tests.harness.fixture_utils import load_fixture


class CodeInPickle:
    """Unpickling this creates the directory ``marker``: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.fixture(scope="module")
def detr_state():
    return load_fixture("detr", "r50")["state_dict"]


def crafted_checkpoint(tmp_path, detr_state, marker):
    """An official-looking torch.save file whose "args" entry runs code when unpickled."""
    path = tmp_path / "crafted.pth"
    torch.save({"model": detr_state, "epoch": 49, "args": CodeInPickle(marker)}, path)
    return path


def test_crafted_payload_is_live(tmp_path, detr_state):
    """Control: the payload does run under an unrestricted load (so the next test can fail)."""
    marker = tmp_path / "ran"
    torch.load(crafted_checkpoint(tmp_path, detr_state, marker), weights_only=False)
    assert marker.exists()


def test_crafted_checkpoint_is_refused_without_running(tmp_path, detr_state):
    marker = tmp_path / "ran"
    path = crafted_checkpoint(tmp_path, detr_state, marker)
    with pytest.raises(UnreadableCheckpointError) as error:
        load_official_checkpoint(path)
    assert not marker.exists()
    message = str(error.value)
    assert message == (f"{path}: refusing to load: the file references {os.mkdir.__module__}.mkdir, which a weights "
                       "file never holds (allowed: tensors, numpy arrays, numbers, strings and plain containers, "
                       "argparse.Namespace; loading it could run code)")


def test_crafted_plain_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "crafted.pkl.pth"
    path.write_bytes(pickle.dumps({"model": CodeInPickle(marker)}, protocol=2))
    with pytest.raises(UnreadableCheckpointError, match=f"^{path}"):
        load_official_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "truncated_legacy", "garbage", "empty"])
def test_corrupt_file_is_one_line_naming_it(tmp_path, detr_state, damage):
    path = tmp_path / "official.pth"
    legacy = damage == "truncated_legacy"  # the pre-1.6 (non-zip) torch.save format of older checkpoints
    torch.save({"model": detr_state, "args": argparse.Namespace(lr=1e-4)}, path,
               _use_new_zipfile_serialization=not legacy)
    data = path.read_bytes()
    path.write_bytes({"garbage": b"this is not a checkpoint", "empty": b""}.get(damage, data[: len(data) // 2]))
    with pytest.raises(UnreadableCheckpointError) as error:
        load_official_checkpoint(path)
    message = str(error.value)
    assert message.startswith(f"{path}: the checkpoint file is corrupt or truncated (")
    assert "\n" not in message and "weights_only" not in message  # no "re-run unsafely" advice


def test_cli_reports_a_corrupt_file_in_one_line(tmp_path, detr_state):
    path = save_official(tmp_path / "official.pth", detr_state)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 3)
    with pytest.raises(SystemExit, match=f"^{path}: the checkpoint file is corrupt or truncated") as error:
        load_convert_tool().main([path, str(tmp_path / "out.pth")])
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out.pth").exists()


def test_official_layout_with_namespace_args_loads(tmp_path, detr_state):
    """What official main.py saves: model, optimizer, lr_scheduler, epoch and args (an argparse.Namespace)."""
    path = save_official(tmp_path / "official.pth", detr_state, epoch=7)
    checkpoint = read_checkpoint_file(path)
    assert sorted(checkpoint) == ["args", "epoch", "lr_scheduler", "model", "optimizer"]
    assert isinstance(checkpoint["args"], argparse.Namespace) and checkpoint["args"].epochs == 50
    assert checkpoint["epoch"] == 7
    state = load_official_checkpoint(path)
    assert sorted(state) == sorted(detr_state)
    for key, value in detr_state.items():  # stored and read back, no arithmetic: exact
        torch.testing.assert_close(state[key], value, atol=0, rtol=0)


def test_allow_list_is_scoped_to_the_read(tmp_path, detr_state):
    """The Namespace allowance does not leak into torch's global safe list."""
    path = save_official(tmp_path / "official.pth", detr_state)
    read_checkpoint_file(path)
    assert not set(OFFICIAL_CHECKPOINT_GLOBALS) & set(torch.serialization.get_safe_globals())
    with pytest.raises(pickle.UnpicklingError, match="argparse.Namespace"):
        torch.load(path, weights_only=True)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pth: no such checkpoint file"):
        load_official_checkpoint(tmp_path / "nothing.pth")

"""--resume with a bad last checkpoint falls back to the newest good one; a save killed half-way
leaves the previous checkpoint and ``last_checkpoint`` intact (issue 10, item 3)."""
import logging
import os
import signal
import subprocess
import sys

import pytest
from torch import nn

from projects.checkpoint import CorruptCheckpointError, DetrCheckpointer
from projects.engine.trainer import Trainer
from tests.harness.fast_config import ROOT, fast_cfg


def _train(out_dir, max_iter=4):
    cfg = fast_cfg(out_dir, extra=["SOLVER.MAX_ITER", max_iter, "SOLVER.CHECKPOINT_PERIOD", 2])
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return cfg


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def test_resume_falls_back_to_the_newest_readable_checkpoint(tmp_path, caplog):
    out = tmp_path / "out"
    cfg = _train(out)
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    for name in ("model_final.pth", "model_0000003.pth"):  # the two newest, iterations 3 and 3
        _truncate(out / name)
    resumed = Trainer(cfg)
    with caplog.at_level(logging.WARNING, logger="projects.checkpoint.checkpointer"):
        resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 2  # model_0000001.pth: iterations 0 and 1 done
    assert f"{out / 'model_final.pth'}: the checkpoint file is corrupt or truncated" in caplog.text
    assert f"Resumed from {out / 'model_0000001.pth'} instead of the last checkpoint" in caplog.text


def test_resume_without_any_readable_checkpoint_names_them_all(tmp_path):
    out = tmp_path / "out"
    cfg = _train(out, max_iter=2)
    for path in out.glob("*.pth"):
        _truncate(path)
    with pytest.raises(CorruptCheckpointError, match="no readable checkpoint") as info:
        Trainer(cfg).resume_or_load(resume=True)
    assert "model_final.pth" in str(info.value) and "model_0000001.pth" in str(info.value)


SAVE_THEN_HANG = """
import sys, time, torch
from torch import nn
from projects.checkpoint.checkpointer import DetrCheckpointer
model = nn.Linear(512, 512)
checkpointer = DetrCheckpointer(model, sys.argv[1])
checkpointer.save("model_0000001", iteration=1)
def half_written_then_hang(obj, f):
    data = bytearray(4 << 20)
    f.write(data)  # half a file...
    f.flush()
    print("writing", flush=True)
    time.sleep(600)  # ...and the process is killed here
torch.save = half_written_then_hang
checkpointer.save("model_0000003", iteration=3)
"""


def test_kill_during_save_keeps_the_previous_checkpoint(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen([sys.executable, "-c", SAVE_THEN_HANG, str(out)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert (out / "last_checkpoint").read_text() == "model_0000001.pth"
    assert not (out / "model_0000003.pth").exists()
    extra = DetrCheckpointer(nn.Linear(512, 512), str(out)).resume_or_load("", resume=True)
    assert extra["iteration"] == 1

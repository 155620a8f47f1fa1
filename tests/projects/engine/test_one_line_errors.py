"""The project's own errors end a command with one ``error: ...`` line and status 1; unexpected ones
keep their traceback, and DETR_FAMILY_DEBUG=1 / ``train_net.py --debug`` shows it for ours too
(issue 24, item 1)."""
import logging
import os
import subprocess
import sys

import pytest

from projects.checkpoint.weights_fit import WeightsMismatchError
from projects.engine.launch import check_weights_file
from projects.engine.one_line_errors import ProjectErrorTracebacks, exit_on_errors, load_command_config
from projects.utils.errors import DEBUG_ENV, ConfigError, TrainingDivergedError, one_line
from tests.harness.e2e_utils import ROOT, tiny_cfg
from tests.harness.train_runs import environment

QUICKSTART = "configs/quickstart/detr_embedded.yaml"


def _failing(error):
    @exit_on_errors()
    def main():
        raise error
    return main


def test_project_error_is_one_line_and_status_1(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as raised:
        _failing(WeightsMismatchError("w.pth: this checkpoint does not fit;\n  load another one"))()
    assert raised.value.code == "error: w.pth: this checkpoint does not fit; load another one"  # status 1, one line


def test_debug_keeps_the_traceback_and_unexpected_errors_keep_theirs(monkeypatch):
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(ConfigError, match="bad key"):
        _failing(ConfigError("bad key"))()
    monkeypatch.delenv(DEBUG_ENV)
    with pytest.raises(ZeroDivisionError):  # not one of ours: a bug, shown in full
        _failing(ZeroDivisionError("1 / 0"))()


def test_key_error_message_loses_its_quotes():
    assert one_line(KeyError("no method 'x'")) == "no method 'x'"


@pytest.mark.parametrize("config, opts, message", [
    ("configs/no_such.yaml", [], r"^config file not found: configs/no_such.yaml$"),
    (QUICKSTART, ["SOLVER.BASE_LRR", "1"], r"or override: Non-existent key: SOLVER.BASE_LRR$"),
    (QUICKSTART, ["SOLVER.BASE_LR", "fast"], r"or override: Type mismatch .* for config key: SOLVER.BASE_LR$"),
    (QUICKSTART, ["SOLVER.BASE_LR"], r"or override: Override list has odd length"),
])
def test_config_problems_are_config_errors(config, opts, message):
    with pytest.raises(ConfigError, match=message):
        load_command_config(str(ROOT / config) if config == QUICKSTART else config, opts)


def test_missing_weights_file_is_named(tmp_path):
    cfg = tiny_cfg(QUICKSTART, tmp_path, ["MODEL.WEIGHTS", str(tmp_path / "nope.pth")])
    with pytest.raises(ConfigError, match=r"MODEL.WEIGHTS .*nope.pth: no such file"):
        check_weights_file(cfg)
    (tmp_path / "last_checkpoint").write_text("model_0000009.pth")
    check_weights_file(cfg, resume=True)  # --resume continues from OUTPUT_DIR's checkpoint instead
    cfg.MODEL.WEIGHTS = "embedded-trunk://R-18.pkl"
    check_weights_file(cfg)  # a path handler's business


def test_trainer_log_keeps_the_message_not_the_traceback(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    try:
        raise TrainingDivergedError("Loss loss_ce became nan at iteration 3")
    except TrainingDivergedError:
        record = logging.LogRecord("detectron2.engine.train_loop", logging.ERROR, __file__, 1,
                                   "Exception during training:", (), sys.exc_info())
    assert ProjectErrorTracebacks().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == "Exception during training: Loss loss_ce became nan at iteration 3"


def _train_net(*arguments):
    return subprocess.run([sys.executable, "train_net.py", "--config-file", QUICKSTART, *arguments], cwd=ROOT,
                          env=environment(), capture_output=True, text=True, timeout=300)


def test_train_net_ends_a_config_mistake_with_one_line(tmp_path):
    done = _train_net("--eval-only", "MODEL.DETR.NUM_CLASSES", "80", "OUTPUT_DIR", str(tmp_path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "error: MODEL.DETR.NUM_CLASSES is 80 but dataset 'embedded_shapes_val' has 4 categories; "
        "set MODEL.DETR.NUM_CLASSES 4")


def test_train_net_debug_shows_the_traceback(tmp_path):
    done = _train_net("--debug", "SOLVER.BASE_LRR", "1", "OUTPUT_DIR", str(tmp_path))
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("projects.utils.errors.ConfigError: bad config ")
    assert not os.listdir(tmp_path)  # stopped before anything was written

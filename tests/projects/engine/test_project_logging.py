"""The project's own loggers write to OUTPUT_DIR/log.txt, like Detectron2's (issue 10, item 9)."""
import logging

import pytest

from projects.engine.trainer import CORE_LOGGER_NAMES, project_logger_names, setup_project_loggers
from projects.registry import registered_methods

PROJECT_LOGGER_NAMES = project_logger_names()


@pytest.fixture
def restored_project_loggers():
    """Undo setup_project_loggers after the test (it turns propagation off, which hides caplog)."""
    loggers = [logging.getLogger(name) for name in PROJECT_LOGGER_NAMES]
    saved = [(lg, list(lg.handlers), lg.propagate, lg.level) for lg in loggers]
    yield
    for lg, handlers, propagate, level in saved:
        lg.handlers[:] = handlers
        lg.propagate, lg.level = propagate, level


def _flush(names):
    for name in names:
        for handler in logging.getLogger(name).handlers:
            handler.flush()


def test_every_project_package_logs_to_the_output_folder(tmp_path, restored_project_loggers):
    setup_project_loggers(str(tmp_path), distributed_rank=0)
    for name in PROJECT_LOGGER_NAMES:
        logging.getLogger(f"{name}.some_module").warning("marker from %s", name)
    _flush(PROJECT_LOGGER_NAMES)
    text = (tmp_path / "log.txt").read_text()
    for name in PROJECT_LOGGER_NAMES:
        assert f"{name}.some_module WARNING: marker from {name}" in text


def test_names_are_the_core_and_every_registered_method_s_package():
    assert PROJECT_LOGGER_NAMES[:len(CORE_LOGGER_NAMES)] == CORE_LOGGER_NAMES == ("projects", "ops")
    assert len(set(PROJECT_LOGGER_NAMES)) == len(PROJECT_LOGGER_NAMES)
    for method in registered_methods().values():  # a method inside a core package logs through it
        assert any(method.logger_name == name or method.logger_name.startswith(f"{name}.")
                   for name in PROJECT_LOGGER_NAMES), method.name


def test_other_ranks_write_their_own_file(tmp_path, restored_project_loggers):
    setup_project_loggers(str(tmp_path), distributed_rank=1)
    logging.getLogger("projects.data.dataset_mapper").info("rank one line")
    _flush(["projects"])
    assert "rank one line" in (tmp_path / "log.txt.rank1").read_text()
    assert not (tmp_path / "log.txt").exists()

"""What every viewing tool does around its own work: logging, config loading, clean errors.

The one-line errors are the project's mechanism (``projects.engine.one_line_errors``, shared with
train_net.py): ``exit_on_input_error`` adds the tools' own ``ToolInputError`` to the project's types.
"""
import logging

import torch

from detectron2.utils.logger import setup_logger

from projects.engine.one_line_errors import PROJECT_ERRORS, exit_on_errors, load_command_config
from projects.visualization.inputs import ToolInputError

# The score threshold the docs adopt for drawing (docs/getting_started.md: clean pictures): tools/demo.py's
# default --confidence-threshold, and the recall that train_net.py's last lines report.
DEMO_SCORE_THRESHOLD = 0.5


def setup_tool_logging(name: str) -> logging.Logger:
    """Detectron2-style console logging for the tool ``name`` and the libraries it drives."""
    for library in ("detectron2", "fvcore", "projects"):
        setup_logger(name=library, abbrev_name=library[:3])
    return setup_logger(name=name)


def read_config(config_file: str, opts=()):
    """``projects.engine.one_line_errors.load_command_config(config_file, opts)`` (a missing file, bad
    keys or an unregistered method: one-line errors), with MODEL.DEVICE set to "cpu" when the
    configured CUDA device is not available."""
    cfg = load_command_config(config_file, opts)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logging.getLogger(__name__).info("CUDA is not available: running on the CPU")
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.DEVICE = "cpu"
        cfg.freeze()
    return cfg


# Decorate a tool's ``main``: a ToolInputError or a project error ends the program with its one-line
# message (``error: ...``, exit status 1); DETR_FAMILY_DEBUG=1 shows the traceback instead.
exit_on_input_error = exit_on_errors(ToolInputError, *PROJECT_ERRORS)

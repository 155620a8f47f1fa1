"""What every viewing tool does around its own work: logging, config loading, clean errors."""
import functools
import logging
import os

import torch

from detectron2.utils.logger import setup_logger

from projects.config import load_config
from projects.visualization.inputs import ToolInputError


def setup_tool_logging(name: str) -> logging.Logger:
    """Detectron2-style console logging for the tool ``name`` and the libraries it drives."""
    for library in ("detectron2", "fvcore", "projects"):
        setup_logger(name=library, abbrev_name=library[:3])
    return setup_logger(name=name)


def read_config(config_file: str, opts=()):
    """``projects.config.load_config(config_file, opts)`` with a missing file, bad keys or an
    unregistered method turned into ToolInputError, and MODEL.DEVICE set to "cpu" when the
    configured CUDA device is not available."""
    if not os.path.isfile(config_file):
        raise ToolInputError(f"config file not found: {config_file}")
    try:
        cfg = load_config(config_file, list(opts))
    except (KeyError, ValueError, AssertionError, TypeError) as error:
        detail = error.args[0] if error.args else type(error).__name__  # KeyError's str() adds quotes
        raise ToolInputError(f"bad config {config_file} or override: {detail}") from None
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logging.getLogger(__name__).info("CUDA is not available: running on the CPU")
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.DEVICE = "cpu"
        cfg.freeze()
    return cfg


def exit_on_input_error(main):
    """Decorate a tool's ``main``: a ToolInputError ends the program with its one-line message."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except ToolInputError as error:
            raise SystemExit(f"error: {error}") from None

    return wrapped

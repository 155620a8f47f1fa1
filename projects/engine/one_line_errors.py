"""How train_net.py and every tool end on one of the project's own errors: one ``error: <message>``
line and exit status 1, in one process or many.

``PROJECT_ERRORS`` are the types whose message names the fix (config, data, weights, checkpoint,
a stopped training); any other exception is unexpected and keeps its traceback. With
``DETR_FAMILY_DEBUG=1`` (``train_net.py --debug`` sets it) project errors keep theirs too.

- ``exit_on_errors(*types)`` decorates a command's ``main``;
- ``launch_with_one_line_errors`` is Detectron2's ``launch`` for train_net.py: with several processes
  each one that stops on a project error hands its line to the launching process and exits with
  status 1; the launcher prints the first line once (Detectron2's launch would show each worker's
  traceback inside a ``ProcessRaisedException``);
- ``load_command_config`` is ``load_config`` with every problem of the file or the overrides as a
  ConfigError (train_net.py and the tools);
- ``ProjectErrorTracebacks`` keeps Detectron2's trainer from logging the traceback of a project
  error (it logs "Exception during training:" with ``logger.exception``): the message stays, on
  the same line.
"""
import functools
import logging
import os
import sys

import torch.multiprocessing as mp
import yaml

from detectron2.engine import launch

from projects.checkpoint.converters import ConversionError
from projects.checkpoint.files import UnreadableCheckpointError
from projects.checkpoint.weights_fit import WeightsMismatchError
from projects.config import load_config
from projects.data.image_checks import BadImageError
from projects.registry import UnregisteredMethodError
from projects.utils.errors import ConfigError, DataError, TrainingDivergedError, debug_requested, one_line

PROJECT_ERRORS = (ConfigError, DataError, UnregisteredMethodError, WeightsMismatchError, UnreadableCheckpointError,
                  ConversionError, BadImageError, TrainingDivergedError)
TRAIN_LOOP_LOGGER = "detectron2.engine.train_loop"


def exit_on_errors(*error_types):
    """Decorator factory: the decorated ``main`` ends on an error of ``error_types`` (default:
    PROJECT_ERRORS) with SystemExit("error: <message>"), i.e. that line on stderr and status 1."""
    handled = error_types or PROJECT_ERRORS

    def decorate(main):
        @functools.wraps(main)
        def wrapped(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except handled as error:
                if debug_requested():
                    raise
                raise SystemExit(f"error: {one_line(error)}") from None

        return wrapped

    return decorate


def _worker(main, args, reports):
    """One process of ``launch_with_one_line_errors``: ``main(args)``; a project error is put on
    ``reports`` (several processes) or raised as the one line (one process)."""
    try:
        return main(args)
    except PROJECT_ERRORS as error:
        if debug_requested():
            raise
        if reports is None:
            raise SystemExit(f"error: {one_line(error)}") from None
        reports.put(one_line(error))
        sys.exit(1)  # no traceback: the launcher prints the line


def launch_with_one_line_errors(main, args):
    """Detectron2's ``launch(main, ...)`` with train_net.py's ``args`` (num_gpus, num_machines,
    machine_rank, dist_url), ending on a project error of any local process with its one line."""
    processes = args.num_gpus * args.num_machines
    reports = mp.get_context("spawn").SimpleQueue() if processes > 1 else None
    try:
        launch(_worker, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(main, args, reports))
    except mp.ProcessExitedException:
        if reports is None or reports.empty():  # killed by a signal, or a worker's own sys.exit
            raise
        raise SystemExit(f"error: {reports.get()}") from None


class ProjectErrorTracebacks(logging.Filter):
    """A log filter that folds the traceback of a project error into one line (unless debugging)."""

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, PROJECT_ERRORS) and not debug_requested():
            record.msg, record.args = f"{record.getMessage()} {one_line(error)}", ()
            record.exc_info = record.exc_text = None
        return True


def fold_project_error_tracebacks() -> None:
    """Install ``ProjectErrorTracebacks`` on Detectron2's training-loop logger (once per process)."""
    logger = logging.getLogger(TRAIN_LOOP_LOGGER)
    if not any(isinstance(f, ProjectErrorTracebacks) for f in logger.filters):
        logger.addFilter(ProjectErrorTracebacks())


def load_command_config(config_file: str, opts=()):
    """``projects.config.load_config(config_file, opts)`` for a command: a missing file, a YAML error,
    an unknown key, a value of the wrong type or an odd override list become one ConfigError."""
    if not os.path.isfile(config_file):
        raise ConfigError(f"config file not found: {config_file}")
    try:
        return load_config(config_file, list(opts))
    except UnregisteredMethodError:
        raise
    except (KeyError, ValueError, AssertionError, TypeError, yaml.YAMLError) as error:
        raise ConfigError(f"bad config {config_file} or override: {one_line(error)}") from error

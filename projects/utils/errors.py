"""The project's own error types that belong to no single package, and how a command shows one.

A command (train_net.py, every tool) ends on one of the project's error types with one line,
``error: <message>``, and a non-zero exit status; the message names the fix. Setting the environment
variable ``DETR_FAMILY_DEBUG=1`` (or ``train_net.py --debug``) shows the traceback instead. The other
error types are where their job is: ``UnreadableCheckpointError`` (projects.checkpoint.files),
``WeightsMismatchError`` (projects.checkpoint.weights_fit), ``ConversionError``
(projects.checkpoint.converters), ``BadImageError`` (projects.data.image_checks),
``UnregisteredMethodError`` (projects.registry); ``projects.engine.one_line_errors`` lists them all.
"""
import os

DEBUG_ENV = "DETR_FAMILY_DEBUG"


class ConfigError(ValueError):
    """A config file, key or value that cannot work; the message names the key and the fix."""


class DataError(ValueError):
    """A dataset that cannot be read as the config names it (not registered, files missing)."""


class TrainingDivergedError(FloatingPointError):
    """Training stopped: a non-finite prediction or loss, or a loss far above its running median.

    A FloatingPointError, as Detectron2's trainer raises for a NaN total loss. In a multi-process run
    every rank raises it at the same iteration, with the same message naming the rank that found it.
    """


def debug_requested() -> bool:
    """True when ``DETR_FAMILY_DEBUG`` is set to anything but "", "0" or "false": show tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false")


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line (a KeyError's own quotes left out)."""
    text = error.args[0] if len(error.args) == 1 and isinstance(error.args[0], str) else str(error)
    return " ".join(text.split()) or type(error).__name__

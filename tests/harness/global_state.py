"""Process-wide state a test can change behind the next test's back: torch's global settings and logging.

The suite restores both around every test, its fixtures included (tests/conftest.py), so results do not
depend on test order.
"""
import logging

import torch

from detectron2.utils.logger import setup_logger


def torch_globals():
    """torch's global settings that change float results or autograd: {name: value}."""
    return {"num_threads": torch.get_num_threads(), "default_dtype": torch.get_default_dtype(),
            "grad_enabled": torch.is_grad_enabled(), "deterministic": torch.are_deterministic_algorithms_enabled()}


def set_torch_globals(values):
    torch.set_num_threads(values["num_threads"])
    torch.set_default_dtype(values["default_dtype"])
    torch.set_grad_enabled(values["grad_enabled"])
    torch.use_deterministic_algorithms(values["deterministic"])


def snapshot_logging():
    """Every logger's level, own handlers (not pytest's capture handlers), propagation and disabled
    flag, and the global ``logging.disable`` level."""
    saved = {logger: (logger.level, _own_handlers(logger), logger.propagate, logger.disabled) for logger in _loggers()}
    return saved, logging.root.manager.disable


def restore_logging(snapshot):
    """Give every logger its state of ``snapshot`` back; one created since gets a new logger's defaults.

    Detectron2's ``setup_logger`` (the Trainer, train_net, the tools) adds handlers, turns propagation
    off, and its colourful formatter renames records ("projects" -> "pro"): left in place, that
    changes what later tests' caplog and log files see. Its cache is cleared too, so that a later
    call sets the handlers up again.
    """
    saved, disabled_below = snapshot
    for logger in _loggers():
        level, handlers, propagate, disabled = saved.get(logger, (logging.NOTSET, [], True, False))
        logger.setLevel(level)
        logger.handlers[:] = handlers + [handler for handler in logger.handlers if _is_pytest_handler(handler)]
        logger.propagate, logger.disabled = propagate, disabled
    logging.disable(disabled_below)
    setup_logger.cache_clear()


def _loggers():
    return [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                   if isinstance(logger, logging.Logger))]


def _is_pytest_handler(handler):
    return type(handler).__module__.startswith("_pytest")


def _own_handlers(logger):
    return [handler for handler in logger.handlers if not _is_pytest_handler(handler)]

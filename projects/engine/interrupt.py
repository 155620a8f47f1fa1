"""Ctrl-C during training: finish the current step, then stop, so the saved checkpoint is exact.

Python's default SIGINT handling raises KeyboardInterrupt wherever the main thread is, possibly
after the optimizer step but before the scheduler's; the checkpoint written then would not
describe a step boundary. ``StopAfterStep`` turns the first Ctrl-C into a request that is
honoured after the step's last hook (raising ``StepBoundaryInterrupt``); a second Ctrl-C
interrupts at once, as usual.
"""
import logging
import signal
import threading

from detectron2.engine import HookBase

logger = logging.getLogger(__name__)


class StepBoundaryInterrupt(KeyboardInterrupt):
    """Raised after a complete training step when Ctrl-C was pressed during it."""


class StopAfterStep(HookBase):
    """Register it last: its ``after_step`` must run after every other hook of the step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def before_train(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._request)

    def _request(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)  # a second Ctrl-C interrupts at once
        logger.warning("Ctrl-C: stopping after this step (press again to stop at once)")

    def after_step(self):
        if self.requested:
            raise StepBoundaryInterrupt

    def after_train(self):
        if self._previous is not None and signal.getsignal(signal.SIGINT) == self._request:
            signal.signal(signal.SIGINT, self._previous)

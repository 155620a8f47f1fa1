"""Divergence: a finite total loss far above its running median, iteration after iteration.

A learning rate far too large does not always give NaN: the loss can climb to 1e10 and stay finite,
and the run finishes "successfully" with a useless model. ``DivergenceMonitor`` is fed the total
training loss of every iteration (by ``projects.engine.finite_checks``, before the backward pass; the
mean over the ranks with several processes, so every rank decides alike):

- the reference is the running median of the last ``window`` losses (once ``warmup`` losses are
  known), at the lowest it has been: a loss that climbs slowly (x2 per window, for ever) is caught as
  surely as a jump, and a diverged stretch cannot raise its own reference;
- a loss above ``factor`` x that reference is logged as divergence, with its iteration;
- ``patience`` such iterations in a row stop training with a ``TrainingDivergedError`` naming the
  iteration, the loss and the reference; one loss below the line in between resets the count.

Config (SOLVER.DIVERGENCE, defaults in ``projects.config``): ENABLED True, FACTOR 10.0, WINDOW 20,
WARMUP 10, PATIENCE 20. ENABLED False turns the monitor off.
"""
import logging
import statistics
from collections import deque

from projects.utils.errors import ConfigError, TrainingDivergedError

logger = logging.getLogger(__name__)

ADVICE = ("lower SOLVER.BASE_LR, keep SOLVER.CLIP_GRADIENTS on, and check the data "
          "(SOLVER.DIVERGENCE.ENABLED False turns this check off)")


class DivergenceMonitor:
    """The lowest running median of the total loss, and the diverged iterations in a row."""

    def __init__(self, *, factor: float, window: int, warmup: int, patience: int):
        if factor <= 1 or window < 1 or not 1 <= warmup <= window or patience < 1:
            raise ConfigError(f"SOLVER.DIVERGENCE needs FACTOR > 1, WINDOW >= WARMUP >= 1 and PATIENCE >= 1, got "
                              f"FACTOR {factor}, WINDOW {window}, WARMUP {warmup}, PATIENCE {patience}")
        self.factor, self.warmup, self.patience = factor, warmup, patience
        self.recent = deque(maxlen=window)
        self.reference = None  # the lowest running median so far
        self.streak = []  # iterations of the diverged losses in a row

    @classmethod
    def from_config(cls, cfg):
        """The monitor of cfg.SOLVER.DIVERGENCE, or None when it is disabled."""
        settings = cfg.SOLVER.DIVERGENCE
        if not settings.ENABLED:
            return None
        return cls(factor=settings.FACTOR, window=settings.WINDOW, warmup=settings.WARMUP,
                   patience=settings.PATIENCE)

    def update(self, loss: float, iteration) -> None:
        """Take the total loss of ``iteration``: log divergence, or raise when it has lasted."""
        diverged = self.reference is not None and loss > self.factor * self.reference
        self._remember(loss)
        if not diverged:
            if self.streak:
                logger.info("Total loss back to %.4g at iteration %s (reference %.4g)", loss, iteration, self.reference)
            self.streak = []
            return
        self.streak.append(iteration)
        if len(self.streak) == 1:
            logger.warning("Divergence at iteration %s: total loss %.4g > %g x its running median %.4g (training "
                           "stops if this lasts %d iterations)", iteration, loss, self.factor, self.reference,
                           self.patience)
        if len(self.streak) >= self.patience:
            raise TrainingDivergedError(
                f"Training diverged at iteration {iteration}: the total loss ({loss:.4g}) stayed above "
                f"{self.factor:g} x its running median ({self.reference:.4g}) for {self.patience} iterations since "
                f"iteration {self.streak[0]}; {ADVICE}")

    def _remember(self, loss: float) -> None:
        self.recent.append(loss)
        if len(self.recent) >= self.warmup:
            median = statistics.median(self.recent)
            self.reference = median if self.reference is None else min(self.reference, median)

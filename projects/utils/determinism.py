"""Randomness derived from (run seed, position) so that a resumed run repeats an uninterrupted one.

Every random draw of training (the data order, each sample's augmentation, each step's dropout)
is seeded from the run seed and where it happens (sample position, iteration, rank), never from a
generator whose state lives only in memory. ``--resume`` then needs nothing but the run seed and
the iteration, both stored in the checkpoint.
"""
import contextlib
import random

import numpy as np
import torch

from detectron2.engine import HookBase
from detectron2.utils import comm


def derive_seed(*keys: int) -> int:
    """A 32-bit seed that depends on every key (numpy SeedSequence mixing: no collisions by design)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def run_seed(cfg_seed: int) -> int:
    """``cfg_seed`` if set (>= 0), else one random seed shared by all processes."""
    return int(cfg_seed) if cfg_seed >= 0 else int(comm.shared_random_seed())


@contextlib.contextmanager
def seeded_global_rngs(seed: int):
    """Seed python's, numpy's and torch's (CPU) global generators for the block, then restore them.

    Detectron2 augmentations draw from the global numpy generator; restoring keeps the caller's
    own random streams (e.g. the model's dropout in a single-process loader) untouched.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


class StepSeed(HookBase):
    """Seed torch's generators before every step from (the trainer's ``seed``, iteration, rank):
    dropout and any other random op of step i draw the same numbers whether or not the run was
    resumed."""

    def before_step(self):
        torch.manual_seed(derive_seed(self.trainer.seed, self.trainer.iter, comm.get_rank()))

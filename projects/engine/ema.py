"""Exponential moving average (EMA) of the model's weights (MODEL_EMA).

After every optimizer step ``ema <- decay * ema + (1 - decay) * weights`` for every floating entry
of the model's state dict (parameters and persistent buffers; integer buffers are copied). The
average is kept in float32 whatever the training precision, is a checkpointable (saved as
``model_ema`` in every checkpoint, restored by ``--resume``) and, with MODEL_EMA.USE_FOR_EVAL,
replaces the weights while the model is evaluated (during training and with ``--eval-only``).
"""
import contextlib
import logging
from typing import Dict, Optional

import torch
from torch import nn

from detectron2.engine import HookBase
from detectron2.engine.hooks import EvalHook

logger = logging.getLogger(__name__)


class ModelEMA:
    """The moving average of one model's state dict (see module docstring)."""

    def __init__(self, model: nn.Module, decay: float):
        """model: the model itself (not DistributedDataParallel); decay in [0, 1)."""
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"MODEL_EMA.DECAY must be in [0, 1), got {decay}")
        self.model = model
        self.decay = float(decay)
        self.updates = 0
        self.restored = False  # True once load_state_dict took the average from a checkpoint
        self.reset()

    def reset(self) -> None:
        """Start the average at the model's current weights."""
        self.weights = {name: _stored(value) for name, value in self.model.state_dict().items()}

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average towards the model's current weights."""
        for name, value in self.model.state_dict().items():
            average = self.weights[name]
            if average.is_floating_point():
                average.lerp_(value.detach().to(average.dtype), 1.0 - self.decay)
            else:
                average.copy_(value)
        self.updates += 1

    def state_dict(self) -> Dict:
        return {"weights": dict(self.weights), "decay": self.decay, "updates": self.updates}

    def load_state_dict(self, state_dict: Dict) -> None:
        missing = sorted(set(self.weights) - set(state_dict["weights"]))
        if missing:
            raise KeyError(f"model_ema in the checkpoint lacks {len(missing)} weights, e.g. {missing[:3]}")
        for name, average in self.weights.items():
            average.copy_(state_dict["weights"][name])
        self.updates = int(state_dict.get("updates", 0))
        self.restored = True

    @contextlib.contextmanager
    def swapped_in(self):
        """The model holds the averaged weights inside the block, its own weights again after it."""
        own = {name: value.detach().clone() for name, value in self.model.state_dict().items()}
        self.model.load_state_dict(self.weights)
        try:
            yield self.model
        finally:
            self.model.load_state_dict(own)


def _stored(value: torch.Tensor) -> torch.Tensor:
    """A detached copy of a state-dict entry; floating ones in float32 (or float64 if so)."""
    value = value.detach().clone()
    return value.float() if value.is_floating_point() and value.dtype != torch.float64 else value


def build_model_ema(cfg, model: nn.Module) -> Optional[ModelEMA]:
    """A ModelEMA of ``model`` (unwrapped from DDP) when MODEL_EMA.ENABLED, else None."""
    if not cfg.MODEL_EMA.ENABLED:
        return None
    return ModelEMA(model, cfg.MODEL_EMA.DECAY)


class EMAHook(HookBase):
    """Updates the average after every step; starts it from the loaded weights when the run did not
    resume one from a checkpoint (so MODEL.WEIGHTS, not the random init, is where it starts)."""

    def __init__(self, ema: ModelEMA):
        self.ema = ema

    def before_train(self):
        if not self.ema.restored:
            self.ema.reset()

    def after_step(self):
        self.ema.update()


def evaluate_with_ema(hooks, ema: ModelEMA) -> None:
    """Make every EvalHook in ``hooks`` evaluate the averaged weights."""
    for hook in hooks:
        if isinstance(hook, EvalHook):
            hook._func = _with_weights(hook._func, ema)


def _with_weights(func, ema: ModelEMA):
    def evaluate():
        with ema.swapped_in():
            return func()
    return evaluate


def load_ema_for_eval(cfg, model: nn.Module, checkpoint: Dict) -> bool:
    """``--eval-only``: put the checkpoint's ``model_ema`` weights (the rest of a loaded checkpoint,
    as ``Checkpointer.load`` returns it) into ``model`` when MODEL_EMA.ENABLED and USE_FOR_EVAL.
    Returns whether it did; a checkpoint without an average keeps the model's weights (warned)."""
    if not (cfg.MODEL_EMA.ENABLED and cfg.MODEL_EMA.USE_FOR_EVAL):
        return False
    if "model_ema" not in (checkpoint or {}):
        logger.warning("MODEL_EMA.USE_FOR_EVAL: the checkpoint has no model_ema; evaluating its model weights")
        return False
    model.load_state_dict(checkpoint["model_ema"]["weights"])  # strict: every entry, same shapes
    logger.info("Evaluating the EMA weights (model_ema) of the checkpoint")
    return True

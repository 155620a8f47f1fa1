"""Training loop of the shape-presence pretraining (AdamW, warm-up + cosine LR, BCE per class).

Every batch is drawn from a generator seeded with (seed, step), so a run stopped at any point and
resumed from its partial state (written every ``save_every`` steps) draws the same batches as an
uninterrupted run.
"""
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

from projects.checkpoint.files import CorruptCheckpointError, atomic_write, read_torch_file
from projects.pretrain.presence_crops import CropSampler
from projects.pretrain.trunk_classifier import TrunkClassifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that decides the pretrained weights (stored beside them in the trunk file)."""

    depth: int = 18
    steps: int = 700
    batch_size: int = 32
    crop: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 30
    seed: int = 0

    def as_dict(self) -> Dict:
        return asdict(self)


def learning_rate(settings: PretrainSettings, step: int) -> float:
    """Linear warm-up to ``lr``, then cosine decay to 0 at ``steps``."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    return 0.5 * settings.lr * (1.0 + math.cos(math.pi * progress))


def batch_generator(settings: PretrainSettings, step: int) -> np.random.Generator:
    return np.random.default_rng([settings.seed, step])


def _save_partial(path: str, model, optimizer, step: int, settings: PretrainSettings) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "settings": settings.as_dict()}
    atomic_write(path, lambda f: torch.save(state, f))


def _load_partial(path: Optional[str], model, optimizer, settings: PretrainSettings) -> int:
    """The step to continue from: 0, or the one stored in a partial state made with these settings."""
    if not path or not os.path.isfile(path):
        return 0
    try:
        state = read_torch_file(path)
    except CorruptCheckpointError as error:  # a cache: start over rather than stop
        logger.warning("Ignoring the partial pretraining state: %s", error)
        return 0
    if state.get("settings") != settings.as_dict():
        logger.info("Ignoring %s: it was made with other settings", path)
        return 0
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    logger.info("Resuming the trunk pretraining at step %d from %s", state["step"], path)
    return int(state["step"])


def pretrain(model: TrunkClassifier, sampler: CropSampler, settings: PretrainSettings, *,
             partial_path: Optional[str] = None, save_every: int = 100, log_every: int = 25,
             on_log: Optional[Callable[[int, float], None]] = None) -> TrunkClassifier:
    """Train ``model`` in place for ``settings.steps`` steps; returns it (in eval mode)."""
    torch.manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    start = _load_partial(partial_path, model, optimizer, settings)
    model.train()
    began, recent_loss = time.perf_counter(), []
    for step in range(start, settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(settings, step)
        images, labels = sampler.sample(batch_generator(settings, step), settings.batch_size)
        loss = F.binary_cross_entropy_with_logits(model(images), labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"trunk pretraining loss is {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        recent_loss.append(loss.item())
        done = step + 1
        if done % log_every == 0 or done == settings.steps:
            _log_progress(done, start, settings.steps, began, float(np.mean(recent_loss)))
            if on_log is not None:
                on_log(done, float(np.mean(recent_loss)))
            recent_loss = []
        if partial_path and done % save_every == 0 and done < settings.steps:
            _save_partial(partial_path, model, optimizer, done, settings)
    return model.eval()


def _log_progress(done: int, start: int, total: int, began: float, loss: float) -> None:
    elapsed = time.perf_counter() - began
    eta = elapsed / max(1, done - start) * (total - done)
    logger.info("trunk pretraining step %d/%d  loss %.4f  lr-step time %.2fs  ETA %d:%02d", done, total, loss,
                elapsed / max(1, done - start), int(eta // 60), int(eta % 60))


@torch.no_grad()
def presence_accuracy(model: TrunkClassifier, sampler: CropSampler, num_crops: int = 256, seed: int = 12345) -> Dict:
    """Per-class accuracy (threshold 0.5) and exact-match rate on ``num_crops`` fixed crops of ``sampler``'s images."""
    model.eval()
    images, labels = sampler.sample(np.random.default_rng(seed), num_crops)
    predicted = (torch.sigmoid(torch.cat([model(chunk) for chunk in images.split(64)])) > 0.5).float()
    correct = predicted == labels
    return {"class_accuracy": correct.float().mean(0).tolist(), "exact_match": correct.all(1).float().mean().item(),
            "num_crops": num_crops}

"""Load MODEL.WEIGHTS into a model for inference, refusing a checkpoint that does not fit it.

Detectron2's checkpointer loads whatever matches and only logs the rest; for a viewer that would
draw the output of a half-random model, so any missing, unexpected or mis-shaped entry is an error.
"""
import logging
import pickle

from detectron2.checkpoint import DetectionCheckpointer

from .inputs import ToolInputError

logger = logging.getLogger(__name__)


class _RecordingCheckpointer(DetectionCheckpointer):
    """DetectionCheckpointer that keeps the incompatible keys it would otherwise only log."""

    incompatible = None

    def _log_incompatible_keys(self, incompatible):
        self.incompatible = incompatible
        super()._log_incompatible_keys(incompatible)


def _examples(items, count=3):
    items = list(items)
    return ", ".join(items[:count]) + (" ..." if len(items) > count else "")


def fit_problems(incompatible):
    """One-line description of what does not fit (empty when everything loaded)."""
    problems = []
    if incompatible.missing_keys:
        problems.append(f"{len(incompatible.missing_keys)} model entries missing from it "
                        f"({_examples(incompatible.missing_keys)})")
    if incompatible.unexpected_keys:
        problems.append(f"{len(incompatible.unexpected_keys)} entries the model does not have "
                        f"({_examples(incompatible.unexpected_keys)})")
    if incompatible.incorrect_shapes:
        shapes = [f"{key} {tuple(ckpt)} vs {tuple(model)}" for key, ckpt, model in incompatible.incorrect_shapes]
        problems.append(f"{len(shapes)} shape mismatches ({_examples(shapes, 2)})")
    return "; ".join(problems)


def load_weights(model, weights: str, architecture: str) -> None:
    """Load ``weights`` into ``model`` (an empty string keeps the random initialisation, with a
    warning). Raises ToolInputError when the file cannot be read or does not fit ``model``."""
    if not weights:
        logger.warning("MODEL.WEIGHTS is empty: drawing a randomly initialised %s", architecture)
        return
    checkpointer = _RecordingCheckpointer(model)
    try:
        checkpointer.load(weights)
    except pickle.UnpicklingError:  # also torch's weights-only refusal, whose advice is unsafe
        raise ToolInputError(f"cannot read checkpoint {weights}: corrupt, truncated, or not a tensor "
                             "checkpoint") from None
    except (OSError, RuntimeError, ValueError, EOFError, AssertionError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ToolInputError(f"cannot read checkpoint {weights}: {message}") from None
    problems = fit_problems(checkpointer.incompatible) if checkpointer.incompatible else ""
    if problems:
        raise ToolInputError(f"checkpoint {weights} does not fit the config's {architecture}: {problems}")

"""Load MODEL.WEIGHTS into a model for inference, refusing a checkpoint that does not fit it.

Reading (safe unpickling, corrupt files) and the MODEL.WEIGHTS_MODE check are the project's
``DetrCheckpointer``. A viewer is stricter still: in the "strict" and "finetune" modes whatever
Detectron2 would only log (an entry the model lacks, a backbone-only file that leaves the detector
random) is an error too, since the drawing of a half-random model misleads.
"""
import logging

from projects.checkpoint.checkpointer import CorruptCheckpointError, DetrCheckpointer, UnsafeCheckpointError
from projects.checkpoint.weights_fit import WeightsMismatchError
from projects.visualization.inputs import ToolInputError

logger = logging.getLogger(__name__)


class _RecordingCheckpointer(DetrCheckpointer):
    """DetrCheckpointer that keeps the incompatible keys Detectron2 would otherwise only log."""

    incompatible = None

    def _log_incompatible_keys(self, incompatible):
        self.incompatible = incompatible
        super()._log_incompatible_keys(incompatible)


def _examples(items, count=3):
    items = list(items)
    return ", ".join(items[:count]) + (" ..." if len(items) > count else "")


def fit_problems(incompatible, allow_class_heads=False):
    """One-line description of what did not load (empty when everything did)."""
    problems = []
    missing = [k for k in incompatible.missing_keys if not (allow_class_heads and "class_embed" in k)]
    if missing:
        problems.append(f"{len(missing)} model entries missing from it ({_examples(missing)})")
    if incompatible.unexpected_keys:
        problems.append(f"{len(incompatible.unexpected_keys)} entries the model does not have "
                        f"({_examples(incompatible.unexpected_keys)})")
    if incompatible.incorrect_shapes:
        shapes = [f"{key} {tuple(ckpt)} vs {tuple(model)}" for key, ckpt, model in incompatible.incorrect_shapes]
        problems.append(f"{len(shapes)} shape mismatches ({_examples(shapes, 2)})")
    return "; ".join(problems)


def load_weights(model, cfg) -> None:
    """Load ``cfg.MODEL.WEIGHTS`` into ``model`` (an empty string keeps the random initialisation,
    with a warning). Raises ToolInputError when the file cannot be read or does not fit ``model``."""
    weights, architecture = cfg.MODEL.WEIGHTS, cfg.MODEL.META_ARCHITECTURE
    if not weights:
        logger.warning("MODEL.WEIGHTS is empty: drawing a randomly initialised %s", architecture)
        return
    checkpointer = _RecordingCheckpointer.from_config(cfg, model, save_dir="")
    try:
        checkpointer.load(weights)
    except (WeightsMismatchError, CorruptCheckpointError, UnsafeCheckpointError) as error:
        raise ToolInputError(str(error)) from None
    except (OSError, AssertionError, RuntimeError, ValueError) as error:  # e.g. "Checkpoint ... not found!"
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ToolInputError(f"cannot read checkpoint {weights}: {message}") from None
    mode = cfg.MODEL.WEIGHTS_MODE
    problems = fit_problems(checkpointer.incompatible, mode == "finetune") if checkpointer.incompatible else ""
    if problems and mode != "partial":
        raise ToolInputError(f"checkpoint {weights} does not fit the config's {architecture}: {problems} "
                             "(MODEL.WEIGHTS_MODE partial draws it anyway)")

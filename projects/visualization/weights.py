"""Load MODEL.WEIGHTS into a model for inference, refusing a checkpoint that does not fit it.

Reading (the one safe reader, corrupt files) and the MODEL.WEIGHTS_MODE check are the project's
``DetrCheckpointer``. A viewer is stricter still: in the "strict" and "finetune" modes whatever
Detectron2 would only log (an entry the model lacks, a backbone-only file that leaves the detector
random) is an error too, since the drawing of a half-random model misleads; it is worded by the
checkpoint package's ``WeightsFit``.
"""
import logging

from projects.checkpoint import DetrCheckpointer, UnreadableCheckpointError, WeightsFit, WeightsMismatchError
from projects.checkpoint.files import first_line
from projects.visualization.inputs import ToolInputError

logger = logging.getLogger(__name__)


class _RecordingCheckpointer(DetrCheckpointer):
    """DetrCheckpointer that keeps the incompatible keys Detectron2 would otherwise only log."""

    incompatible = None

    def _log_incompatible_keys(self, incompatible):
        self.incompatible = incompatible
        super()._log_incompatible_keys(incompatible)


def fit_problems(incompatible, allow_class_heads=False) -> str:
    """One line describing what of the checkpoint did not load (empty when everything did), from
    Detectron2's incompatible keys; ``allow_class_heads``: class heads left unfilled are fine (finetune)."""
    missing = [k for k in incompatible.missing_keys if not (allow_class_heads and "class_embed" in k)]
    fit = WeightsFit(tuple(missing), tuple(incompatible.unexpected_keys), tuple(incompatible.incorrect_shapes))
    return fit.describe()


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
    except (WeightsMismatchError, UnreadableCheckpointError) as error:
        raise ToolInputError(str(error)) from None
    except (OSError, AssertionError, RuntimeError, ValueError) as error:  # e.g. "Checkpoint ... not found!"
        raise ToolInputError(f"cannot read checkpoint {weights}: {first_line(error)}") from None
    mode = cfg.MODEL.WEIGHTS_MODE
    problems = fit_problems(checkpointer.incompatible, mode == "finetune") if checkpointer.incompatible else ""
    if problems and mode != "partial":
        raise ToolInputError(f"checkpoint {weights} does not fit the config's {architecture}: {problems} "
                             "(MODEL.WEIGHTS_MODE partial draws it anyway)")

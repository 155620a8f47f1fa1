"""Check that a detector checkpoint fills the model before it is loaded (``MODEL.WEIGHTS_MODE``).

Detectron2 loads whatever matches and only warns about the rest, so a checkpoint of another method
(e.g. DETR weights into Deformable DETR) or another class count silently leaves parameters at
their random initialisation. Here a *detector* checkpoint (one with entries outside
``backbone.``) must fit exactly, except as the mode allows:

- "strict" (default): every model entry present with its shape; otherwise an error naming the
  method the checkpoint came from and the parameter groups it leaves uninitialised.
- "finetune": as strict, but class heads (``class_embed``) with another class count keep the
  freshly built model's initialisation (with the focal-loss prior bias where the method uses
  one); they are logged by name. This is how a COCO model is fine-tuned on a new dataset.
- "partial": Detectron2's behaviour, load what matches (its warnings list the rest).

Backbone-only checkpoints (ImageNet weights) are never checked: the detector parts are meant to
start from their initialisation.
"""
import logging
import re
from typing import Dict, List, Optional

logger = logging.getLogger(__name__)

WEIGHTS_MODES = ("strict", "finetune", "partial")
CLASS_HEAD = re.compile(r"(^|\.)class_embed(\.\d+)?\.(weight|bias)$")

# Parameter-name fragments that only one method's models have: used to name the method a
# checkpoint came from in error messages when the checkpoint does not record it.
METHOD_SIGNATURES = (
    ("sampling_offsets", "DeformableDETR"),
    ("ca_qpos_sine_proj", "ConditionalDETR"),
    ("scale_selection", "SMCAMultiScale"),
    ("center_head", "SMCA"),
    ("multihead_attn.in_proj_weight", "DETR"),
)


class WeightsMismatchError(ValueError):
    """A detector checkpoint that does not fit the model in the requested MODEL.WEIGHTS_MODE."""


def guess_method(names) -> str:
    """The method whose signature fragment occurs in ``names`` (a checkpoint's keys), or "unknown"."""
    for fragment, method in METHOD_SIGNATURES:
        if any(fragment in name for name in names):
            return method
    return "unknown"


def parameter_groups(names: List[str], limit: int = 12) -> str:
    """Module paths of ``names`` with layer indices as "*", e.g. "transformer.encoder.layers.*.norm1"."""
    groups = sorted({re.sub(r"\.\d+(?=\.)", ".*", name).rsplit(".", 1)[0] for name in names})
    more = f", ... (+{len(groups) - limit} more)" if len(groups) > limit else ""
    return ", ".join(groups[:limit]) + more


def _strip_prefix(state: Dict, prefix: str = "module.") -> Dict:
    if state and all(key.startswith(prefix) for key in state):
        return {key[len(prefix):]: value for key, value in state.items()}
    return dict(state)


def _shape(value) -> tuple:
    return tuple(value.shape)


def check_weights_fit(model_state: Dict, checkpoint_state: Dict, mode: str = "strict", source: str = "",
                      found_method: Optional[str] = None, model_method: str = "model") -> Dict:
    """Return the entries of ``checkpoint_state`` to load into a model with ``model_state``.

    Raises WeightsMismatchError (see module docstring) unless the checkpoint fits in ``mode``.
    In "finetune" mode class-head entries of another shape are left out of the returned dict.
    """
    if mode not in WEIGHTS_MODES:
        raise ValueError(f"MODEL.WEIGHTS_MODE must be one of {WEIGHTS_MODES}, got {mode!r}")
    checkpoint_state = _strip_prefix(checkpoint_state)
    is_detector = any(not key.startswith("backbone.") for key in checkpoint_state)
    if mode == "partial" or not is_detector:
        return checkpoint_state
    expected = [k for k in model_state if not k.endswith("num_batches_tracked")]
    missing = [k for k in expected if k not in checkpoint_state]
    reshaped = [k for k in expected if k in checkpoint_state
                and _shape(checkpoint_state[k]) != _shape(model_state[k])]
    heads = [k for k in reshaped if CLASS_HEAD.search(k)]
    others = [k for k in reshaped if k not in heads]
    label = f"{source}: " if source else ""
    if missing or others:
        method = found_method or guess_method(checkpoint_state)
        unused = len([k for k in checkpoint_state if k not in model_state])
        raise WeightsMismatchError(
            f"{label}this checkpoint (method found: {method}) does not fit the {model_method} model: "
            f"{len(missing) + len(others)} entries would stay uninitialised (groups: "
            f"{parameter_groups(missing + others)}); {unused} checkpoint entries are unused. Load a "
            f"{model_method} checkpoint, or set MODEL.WEIGHTS_MODE partial to load only what matches."
        )
    if heads and mode == "strict":
        name = heads[0]
        raise WeightsMismatchError(
            f"{label}the class heads have another class count ({name}: checkpoint "
            f"{_shape(checkpoint_state[name])} vs model {_shape(model_state[name])}): set "
            "MODEL.DETR.NUM_CLASSES to the checkpoint's, or MODEL.WEIGHTS_MODE finetune to "
            "re-initialise the class heads for a new dataset."
        )
    if heads:
        logger.warning("Fine-tuning from %s: class heads re-initialised (checkpoint %s vs model %s): %s",
                       source or "a checkpoint", _shape(checkpoint_state[heads[0]]),
                       _shape(model_state[heads[0]]), ", ".join(heads))
    return {k: v for k, v in checkpoint_state.items() if k not in heads}

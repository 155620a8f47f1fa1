"""Do these weights fit this model? The one comparison (``compare_weights``) and its uses.

``compare_weights`` lists the model entries a checkpoint lacks, the checkpoint entries the model
lacks and the shape mismatches; ``WeightsFit.describe`` words them. Three callers decide what is
allowed: conversion must be exact (``projects.checkpoint.convert_file.check_conversion``), the
viewers refuse whatever did not load (``projects.visualization.weights``) and training, resume
and evaluation follow ``MODEL.WEIGHTS_MODE`` (``check_weights_fit``, below).

Detectron2 loads whatever matches and only warns about the rest, so a checkpoint of another method
or another class count would silently leave parameters at their random initialisation. Here a
*detector* checkpoint (one with entries outside ``backbone.``) must fit, except as the mode allows:

- "strict" (default): every model entry present with its shape; otherwise an error naming the
  method the checkpoint came from and the parameter groups it leaves uninitialised.
- "finetune": as strict, but class heads (``class_embed``) with another class count keep the
  freshly built model's initialisation (with the focal-loss prior bias where the method uses
  one); they are logged by name. This is how a COCO model is fine-tuned on a new dataset.
- "partial": Detectron2's behaviour, load what matches (its warnings list the rest).

Backbone-only checkpoints (ImageNet weights) are never checked: the detector parts are meant to
start from their initialisation. The method a checkpoint came from is read from the checkpoint
("meta_architecture", saved by ``DetrCheckpointer``) or guessed from the registered methods'
``checkpoint_signatures`` (``guess_method``).
"""
import logging
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

logger = logging.getLogger(__name__)

WEIGHTS_MODES = ("strict", "finetune", "partial")
CLASS_HEAD = re.compile(r"(^|\.)class_embed(\.\d+)?\.(weight|bias)$")


class WeightsMismatchError(ValueError):
    """A detector checkpoint that does not fit the model in the requested MODEL.WEIGHTS_MODE."""


def _examples(items: List[str], count: int) -> str:
    return ", ".join(items[:count]) + (" ..." if len(items) > count else "")


@dataclass(frozen=True)
class WeightsFit:
    """How a checkpoint's entries meet a model's (in the model's order, then the checkpoint's).

    missing: model entries the checkpoint does not fill; unexpected: checkpoint entries the model
    does not have; reshaped: (name, checkpoint shape, model shape) of entries whose shapes differ.
    """

    missing: Tuple[str, ...] = ()
    unexpected: Tuple[str, ...] = ()
    reshaped: Tuple[Tuple[str, tuple, tuple], ...] = ()

    @property
    def exact(self) -> bool:
        """Every model entry filled with its shape, every checkpoint entry used."""
        return not (self.missing or self.unexpected or self.reshaped)

    def describe(self, examples: int = 3) -> str:
        """One line, e.g. "2 model entries missing (a, b); 1 entries the model does not have (c)"
        ("" when everything fits); ``examples`` names per kind."""
        shapes = [f"{name}: checkpoint {tuple(ckpt)} vs model {tuple(model)}" for name, ckpt, model in self.reshaped]
        parts = [(self.missing, "model entries missing"), (self.unexpected, "entries the model does not have"),
                 (shapes, "shape mismatches")]
        return "; ".join(f"{len(items)} {title} ({_examples(list(items), examples)})"
                         for items, title in parts if items)


def compare_weights(model_state: Mapping, checkpoint_state: Mapping, ignore: Iterable[str] = ()) -> WeightsFit:
    """Compare a checkpoint's entries with a model's (values: anything with ``.shape``: tensors, arrays).

    ``ignore`` holds regexes of model entries the checkpoint need not fill (e.g. BatchNorm step counters).
    """
    ignored = [re.compile(pattern) for pattern in ignore]
    missing = tuple(k for k in model_state if k not in checkpoint_state and not any(p.search(k) for p in ignored))
    unexpected = tuple(k for k in checkpoint_state if k not in model_state)
    reshaped = tuple(
        (k, tuple(checkpoint_state[k].shape), tuple(model_state[k].shape))
        for k in model_state
        if k in checkpoint_state and tuple(checkpoint_state[k].shape) != tuple(model_state[k].shape)
    )
    return WeightsFit(missing, unexpected, reshaped)


def guess_method(names: Iterable[str]) -> str:
    """The meta-architecture whose registered ``checkpoint_signatures`` fragments all occur in ``names``
    (a checkpoint's keys): the longest matching signature wins, ties read "A or B"; else "unknown"."""
    from projects.registry import registered_methods

    names = list(names)
    matches = {}
    for method in registered_methods().values():
        for architecture, fragments in method.checkpoint_signatures.items():
            if fragments and all(any(fragment in name for name in names) for fragment in fragments):
                matches[architecture] = len(fragments)
    if not matches:
        return "unknown"
    longest = max(matches.values())
    return " or ".join(sorted(a for a, length in matches.items() if length == longest))


def parameter_groups(names: List[str], limit: int = 12) -> str:
    """Module paths of ``names`` with layer indices as "*", e.g. "transformer.encoder.layers.*.norm1"."""
    groups = sorted({re.sub(r"\.\d+(?=\.)", ".*", name).rsplit(".", 1)[0] for name in names})
    more = f", ... (+{len(groups) - limit} more)" if len(groups) > limit else ""
    return ", ".join(groups[:limit]) + more


def _strip_prefix(state: Dict, prefix: str = "module.") -> Dict:
    if state and all(key.startswith(prefix) for key in state):
        return {key[len(prefix):]: value for key, value in state.items()}
    return dict(state)


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
    fit = compare_weights(model_state, checkpoint_state, ignore=[r"num_batches_tracked$"])
    heads = [entry for entry in fit.reshaped if CLASS_HEAD.search(entry[0])]
    others = [name for name, _, _ in fit.reshaped if not CLASS_HEAD.search(name)]
    label = f"{source}: " if source else ""
    if fit.missing or others:
        method = found_method or guess_method(checkpoint_state)
        raise WeightsMismatchError(
            f"{label}this checkpoint (method found: {method}) does not fit the {model_method} model: "
            f"{len(fit.missing) + len(others)} entries would stay uninitialised (groups: "
            f"{parameter_groups(list(fit.missing) + others)}); {len(fit.unexpected)} checkpoint entries are "
            f"unused. Load a {model_method} checkpoint, or set MODEL.WEIGHTS_MODE partial to load only what matches."
        )
    if heads and mode == "strict":
        name, checkpoint_shape, model_shape = heads[0]
        raise WeightsMismatchError(
            f"{label}the class heads have another class count ({name}: checkpoint {checkpoint_shape} vs "
            f"model {model_shape}): set MODEL.DETR.NUM_CLASSES to the checkpoint's, or MODEL.WEIGHTS_MODE "
            "finetune to re-initialise the class heads for a new dataset."
        )
    if heads:
        logger.warning("Fine-tuning from %s: class heads re-initialised (checkpoint %s vs model %s): %s",
                       source or "a checkpoint", heads[0][1], heads[0][2], ", ".join(h[0] for h in heads))
    head_names = {name for name, _, _ in heads}
    return {k: v for k, v in checkpoint_state.items() if k not in head_names}

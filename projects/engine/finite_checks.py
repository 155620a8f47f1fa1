"""Stop training at the first non-finite prediction or loss, naming it and the iteration.

A diverging run produces NaN/inf predictions first; left alone they reach the Hungarian matcher,
whose box checks then report a misleading format error. ``install_finite_checks`` puts two
forward hooks on a DETR-family model:

- before the criterion: every prediction tensor it is given ("pred_logits", "pred_boxes",
  "aux_outputs"[i], "enc_outputs") must be finite;
- after the model (training mode): every loss in the returned dict must be finite.

Both raise ``FloatingPointError`` (the exception Detectron2's trainer raises for a NaN total loss)
before the backward pass, so no non-finite gradient reaches the optimizer.
"""
from typing import Dict, Iterator, Tuple

import torch
from torch import nn

from detectron2.utils.events import get_event_storage

ADVICE = "training diverged: lower SOLVER.BASE_LR, keep SOLVER.CLIP_GRADIENTS on, and check the data"


def current_iteration() -> str:
    """The trainer's iteration from Detectron2's event storage ("?" outside a trainer)."""
    try:
        return str(get_event_storage().iter)
    except AssertionError:  # no EventStorage open: called outside a training loop
        return "?"


def named_prediction_tensors(outputs: Dict, prefix: str = "") -> Iterator[Tuple[str, torch.Tensor]]:
    """Yield (name, tensor) for every tensor in a criterion output dict, nested lists/dicts included.

    Names look like "pred_boxes", "aux_outputs[2].pred_logits", "enc_outputs.pred_boxes".
    """
    for key, value in outputs.items():
        name = f"{prefix}{key}"
        if torch.is_tensor(value):
            yield name, value
        elif isinstance(value, dict):
            yield from named_prediction_tensors(value, f"{name}.")
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    yield from named_prediction_tensors(item, f"{name}[{index}].")


def _first_non_finite(named: Dict[str, torch.Tensor]):
    """The first (name, tensor) with a NaN/inf value, or None; one device sync when all are finite."""
    floats = {name: t for name, t in named.items() if t.is_floating_point()}
    if not floats:
        return None
    flags = torch.stack([torch.isfinite(t).all() for t in floats.values()])
    if bool(flags.all()):
        return None
    index = int((~flags).nonzero()[0])
    return list(floats.items())[index]


def check_finite_predictions(outputs: Dict) -> None:
    """Raise FloatingPointError naming the first non-finite prediction tensor of ``outputs``."""
    found = _first_non_finite(dict(named_prediction_tensors(outputs)))
    if found is not None:
        name, tensor = found
        bad = int((~torch.isfinite(tensor)).sum())
        raise FloatingPointError(
            f"Non-finite model output at iteration {current_iteration()}: {name} has {bad} NaN/inf "
            f"values of {tensor.numel()}, before the loss was computed; {ADVICE}"
        )


def check_finite_losses(loss_dict: Dict[str, torch.Tensor]) -> None:
    """Raise FloatingPointError naming the first non-finite loss of ``loss_dict``."""
    found = _first_non_finite({k: v for k, v in loss_dict.items() if torch.is_tensor(v)})
    if found is not None:
        name, value = found
        shown = float(value.detach()) if value.numel() == 1 else "non-finite values"
        raise FloatingPointError(
            f"Loss {name} became {shown} at iteration {current_iteration()}; {ADVICE}"
        )


def _before_criterion(module, args):
    if args and isinstance(args[0], dict):
        check_finite_predictions(args[0])


def _after_model(module, args, output):
    if module.training and isinstance(output, dict):
        check_finite_losses(output)


def install_finite_checks(model: nn.Module) -> list:
    """Hook the checks onto ``model`` (its ``criterion`` submodule, if any, and the model itself).

    Returns the hook handles (``handle.remove()`` undoes them).
    """
    handles = [model.register_forward_hook(_after_model)]
    criterion = getattr(model, "criterion", None)
    if isinstance(criterion, nn.Module):
        handles.append(criterion.register_forward_pre_hook(_before_criterion))
    return handles

"""Stop training at the first non-finite prediction or loss, or a loss that keeps diverging, naming
the tensor, the iteration and (several processes) the rank, on every rank at once.

A diverging run produces NaN/inf predictions first; left alone they reach the Hungarian matcher,
whose box checks then report a misleading format error. ``install_finite_checks`` puts two
forward hooks on a DETR-family model:

- before the criterion: every prediction tensor it is given ("pred_logits", "pred_boxes",
  "aux_outputs"[i], "enc_outputs") must be finite;
- after the model (training mode): every loss in the returned dict must be finite; then the total
  loss goes to the divergence monitor (``projects.engine.divergence``, SOLVER.DIVERGENCE), if any.

Both raise ``TrainingDivergedError`` (a FloatingPointError, the exception Detectron2's trainer raises
for a NaN total loss) before the backward pass, so no non-finite gradient reaches the optimizer.

With several processes (DistributedDataParallel) each check is collective: one all-reduce of a flag
per rank (and, after the model, of the total loss), so that a NaN found on rank 1 stops rank 0 at the
same iteration instead of leaving it waiting in the backward pass's all-reduce until the process
group's timeout (30 minutes for Detectron2's launch; forever across machines). Every rank raises the
same message, the one of the lowest rank that found a non-finite tensor; the divergence monitor sees
the mean total loss over the ranks, so every rank reaches the same decision.
"""
from typing import Dict, Iterator, Optional, Tuple

import torch
import torch.distributed as dist
from torch import nn

from detectron2.utils import comm
from detectron2.utils.events import get_event_storage

from projects.utils.errors import TrainingDivergedError

ADVICE = "training diverged: lower SOLVER.BASE_LR, keep SOLVER.CLIP_GRADIENTS on, and check the data"


def current_iteration() -> str:
    """The trainer's iteration from Detectron2's event storage ("?" outside a trainer)."""
    try:
        return str(get_event_storage().iter)
    except AssertionError:  # no EventStorage open: called outside a training loop
        return "?"


def _where() -> str:
    """" on rank r at iteration i" (the rank only with several processes)."""
    rank = f" on rank {comm.get_rank()}" if comm.get_world_size() > 1 else ""
    return f"{rank} at iteration {current_iteration()}"


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


def non_finite_prediction(outputs: Dict) -> Optional[str]:
    """The message naming the first non-finite prediction tensor of ``outputs``, or None."""
    found = _first_non_finite(dict(named_prediction_tensors(outputs)))
    if found is None:
        return None
    name, tensor = found
    bad = int((~torch.isfinite(tensor)).sum())
    return (f"Non-finite model output{_where()}: {name} has {bad} NaN/inf values of {tensor.numel()}, "
            f"before the loss was computed; {ADVICE}")


def non_finite_loss(loss_dict: Dict[str, torch.Tensor]) -> Optional[str]:
    """The message naming the first non-finite loss of ``loss_dict``, or None."""
    found = _first_non_finite({k: v for k, v in loss_dict.items() if torch.is_tensor(v)})
    if found is None:
        return None
    name, value = found
    shown = float(value.detach()) if value.numel() == 1 else "non-finite values"
    return f"Loss {name} became {shown}{_where()}; {ADVICE}"


def check_finite_predictions(outputs: Dict) -> None:
    """Raise TrainingDivergedError naming the first non-finite prediction tensor of ``outputs``."""
    message = non_finite_prediction(outputs)
    if message is not None:
        raise TrainingDivergedError(message)


def check_finite_losses(loss_dict: Dict[str, torch.Tensor]) -> None:
    """Raise TrainingDivergedError naming the first non-finite loss of ``loss_dict``."""
    message = non_finite_loss(loss_dict)
    if message is not None:
        raise TrainingDivergedError(message)


def _device_of(tensors) -> torch.device:
    """Where the collective's tensor lives: the tensors' device (CUDA for NCCL, CPU for gloo)."""
    return next((t.device for t in tensors if torch.is_tensor(t)), torch.device("cpu"))


def agree(message: Optional[str], device: torch.device, value: float = 0.0) -> Tuple[Optional[str], float]:
    """Collective over all ranks (call it on every rank): (the message of the lowest rank whose
    ``message`` is not None, or None; the mean of ``value`` over the ranks). One all-reduce of a
    (world_size + 1,) tensor; an all-gather of the messages only when one rank has one."""
    world = comm.get_world_size()
    shared = torch.zeros(world + 1, dtype=torch.float64, device=device)
    shared[comm.get_rank()] = float(message is not None)
    shared[world] = value
    dist.all_reduce(shared)
    shared = shared.tolist()
    bad = [rank for rank in range(world) if shared[rank] > 0]
    if bad:
        message = comm.all_gather(message)[bad[0]]
    return message, shared[world] / world


def _collective(module: nn.Module) -> bool:
    """Checks are agreed between ranks while training with several processes (every rank runs them)."""
    return module.training and comm.get_world_size() > 1


class TrainingChecks:
    """The two forward hooks of ``install_finite_checks``, with the divergence monitor (or None)."""

    def __init__(self, divergence=None):
        self.divergence = divergence

    def before_criterion(self, module, args):
        if not (args and isinstance(args[0], dict)):
            return
        message = non_finite_prediction(args[0])
        if _collective(module):
            message, _ = agree(message, _device_of(args[0].values()))
        if message is not None:
            raise TrainingDivergedError(message)

    def after_model(self, module, args, output):
        if not (module.training and isinstance(output, dict)):
            return
        message = non_finite_loss(output)
        losses = [v for v in output.values() if torch.is_tensor(v) and v.is_floating_point()]
        total = float(sum(v.detach().sum() for v in losses)) if self.divergence is not None and message is None else 0.0
        if _collective(module):
            message, total = agree(message, _device_of(losses), total)
        if message is not None:
            raise TrainingDivergedError(message)
        if self.divergence is not None:
            self.divergence.update(total, current_iteration())


def install_finite_checks(model: nn.Module, divergence=None) -> list:
    """Hook the checks onto ``model`` (its ``criterion`` submodule, if any, and the model itself);
    ``divergence``: a ``DivergenceMonitor`` fed the total loss of every training step, or None.

    Returns the hook handles (``handle.remove()`` undoes them).
    """
    checks = TrainingChecks(divergence)
    handles = [model.register_forward_hook(checks.after_model)]
    criterion = getattr(model, "criterion", None)
    if isinstance(criterion, nn.Module):
        handles.append(criterion.register_forward_pre_hook(checks.before_criterion))
    return handles

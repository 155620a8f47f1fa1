"""Mixed-precision (autocast) training on GPU (float16 or bfloat16) and CPU (bfloat16).

Detectron2's ``AMPTrainer`` runs on CUDA only and always creates a GradScaler. ``DetrAMPTrainer``
autocasts on the model's own device in ``SOLVER.AMP.DTYPE`` and scales the loss only where it is
needed (float16 on CUDA: bfloat16 has float32's exponent range). Everything else is
``SimpleTrainer``'s step: the same data iterator (so ``--resume`` continues the same stream), the
same hooks and metrics; the optimizer (with its full-model clipping) steps on unscaled gradients.
Matching and losses run in float32 inside the autocast region (``projects.utils.precision``).
"""
import time

import torch

from detectron2.engine import SimpleTrainer

AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def amp_dtype_from_config(cfg, device_type: str) -> torch.dtype:
    """SOLVER.AMP.DTYPE checked for ``device_type``: "float16", "bfloat16" or "auto" (float16 on
    CUDA, bfloat16 on CPU)."""
    name = cfg.SOLVER.AMP.DTYPE
    if name == "auto":
        name = "float16" if device_type == "cuda" else "bfloat16"
    if name not in AMP_DTYPES:
        raise ValueError(f"SOLVER.AMP.DTYPE must be 'auto', 'float16' or 'bfloat16', got {name!r}")
    if device_type == "cpu" and name == "float16":
        raise ValueError("SOLVER.AMP.DTYPE 'float16' needs a GPU (its gradients need loss scaling); "
                         "use 'bfloat16' for mixed precision on CPU")
    if device_type not in ("cpu", "cuda"):
        raise ValueError(f"SOLVER.AMP.ENABLED: mixed precision runs on 'cpu' or 'cuda', not {device_type!r}")
    return AMP_DTYPES[name]


def model_device_type(model: torch.nn.Module) -> str:
    """"cpu" or "cuda": where the model's first parameter lives."""
    return next(model.parameters()).device.type


class DetrAMPTrainer(SimpleTrainer):
    """SimpleTrainer whose forward runs under ``torch.autocast(device_type, precision)``."""

    def __init__(self, model, data_loader, optimizer, *, precision: torch.dtype, **kwargs):
        """``precision``: torch.float16 (CUDA only, with a GradScaler) or torch.bfloat16 (CPU or CUDA);
        other arguments as SimpleTrainer's."""
        super().__init__(model, data_loader, optimizer, **kwargs)
        self.device_type = model_device_type(model)
        self.precision = precision
        scaled = precision == torch.float16 and self.device_type == "cuda"
        self.grad_scaler = torch.amp.GradScaler("cuda") if scaled else None

    def run_step(self):
        """One step: next batch, autocast forward, (scaled) backward, hooks, metrics, optimizer step."""
        if not self.model.training:
            raise RuntimeError("DetrAMPTrainer: the model was switched to eval mode during training")
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        if self.zero_grad_before_forward:
            self.optimizer.zero_grad()
        with torch.autocast(device_type=self.device_type, dtype=self.precision):
            loss_dict = self.model(data)
        if isinstance(loss_dict, torch.Tensor):
            loss_dict = {"total_loss": loss_dict}
        losses = sum(loss_dict.values())
        if not self.zero_grad_before_forward:
            self.optimizer.zero_grad()
        (losses if self.grad_scaler is None else self.grad_scaler.scale(losses)).backward()
        self.after_backward()
        self._write_metrics(loss_dict, data_time)
        if self.grad_scaler is None:
            self.optimizer.step()
        else:
            scaled_step(self.grad_scaler, self.optimizer)

    def state_dict(self):
        state = super().state_dict()
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])


def scaled_step(grad_scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer) -> None:
    """One optimizer step on gradients scaled by ``grad_scaler``, then the scale update.

    Unscales explicitly first: the optimizer's full-model clipping must see the true norm, and
    ``GradScaler.step`` alone leaves the unscaling to fused optimizers (our AdamW), after the clipping.
    """
    grad_scaler.unscale_(optimizer)
    grad_scaler.step(optimizer)
    grad_scaler.update()


def build_amp_trainer(cfg, model, data_loader, optimizer) -> DetrAMPTrainer:
    """The mixed-precision step of SOLVER.AMP (``model`` may be wrapped in DistributedDataParallel)."""
    precision = amp_dtype_from_config(cfg, model_device_type(model))
    return DetrAMPTrainer(model, data_loader, optimizer, precision=precision)

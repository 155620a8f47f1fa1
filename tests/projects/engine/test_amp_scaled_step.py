"""projects.engine.amp.scaled_step: a loss-scaled step equals the unscaled one, clipping included, with
the fused AdamW that build_detr_optimizer makes (GradScaler leaves unscaling to fused optimizers)."""
import torch
from torch import nn

from detectron2.config import get_cfg

from projects.engine.amp import scaled_step
from projects.config import add_detr_config
from projects.engine.solver import build_detr_optimizer


def clipped_adamw(model):
    cfg = get_cfg()
    add_detr_config(cfg)
    cfg.SOLVER.OPTIMIZER = "ADAMW"
    cfg.SOLVER.BASE_LR = 0.01
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 0.1  # far below the gradient norm below: clipping acts
    return build_detr_optimizer(cfg, model)


def one_step(scaler):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = clipped_adamw(model)
    loss = (model(torch.randn(32, 8)) * 10.0).square().mean()
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaled_step(scaler, optimizer)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_scaled_step_equals_the_unscaled_step():
    plain = one_step(None)
    scaled = one_step(torch.amp.GradScaler("cpu", init_scale=2.0 ** 12))
    # float32 parameters after one AdamW step of lr 0.01; scaling by a power of two is exact, the
    # unscale multiplies by its inverse: only the norm's summation order may differ
    torch.testing.assert_close(scaled, plain, atol=1e-6, rtol=0)

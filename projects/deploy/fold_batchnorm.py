"""Inference-only folding of frozen batch norms into the convolutions they follow.

Detectron2's ResNet applies every ``FrozenBatchNorm2d`` as its ``Conv2d``'s ``norm``: an affine
map per output channel, ``y = (x - mean) / sqrt(var + eps) * weight + bias``, which a convolution
can absorb into its own weight and bias. Folding removes one pass over every backbone feature map.
"""
import torch
from torch import nn

from detectron2.layers import Conv2d, FrozenBatchNorm2d

__all__ = ["fold_frozen_batchnorm"]


def fold_frozen_batchnorm(model: nn.Module) -> int:
    """Fold every ``FrozenBatchNorm2d`` that is a Detectron2 ``Conv2d``'s ``norm`` into that conv,
    in place; returns how many were folded.

    For deployment and benchmarks: the outputs change only by float rounding (the folded weights are
    computed in float64, then cast back), but the model's state dict changes (each folded conv gains
    a ``bias``, its ``norm`` buffers go), so a checkpoint saved afterwards loads only into a folded
    model. The folded bias keeps the weight's ``requires_grad``; do not train a folded model.
    """
    convs = [m for m in model.modules() if isinstance(m, Conv2d) and isinstance(m.norm, FrozenBatchNorm2d)]
    for conv in convs:
        _fold_into(conv, conv.norm)
        conv.norm = None
    return len(convs)


@torch.no_grad()
def _fold_into(conv: Conv2d, norm: FrozenBatchNorm2d) -> None:
    """conv.weight [O, I, kh, kw] *= scale [O]; conv.bias [O] = (bias_conv - mean) * scale + bias_norm."""
    dtype = conv.weight.dtype
    scale = norm.weight.double() * (norm.running_var.double() + norm.eps).rsqrt()
    conv_bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    bias = (conv_bias - norm.running_mean.double()) * scale + norm.bias.double()
    conv.weight.copy_((conv.weight.double() * scale.view(-1, 1, 1, 1)).to(dtype))
    conv.bias = nn.Parameter(bias.to(dtype), requires_grad=conv.weight.requires_grad)

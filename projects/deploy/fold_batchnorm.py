"""Inference-only folding of frozen batch norms into the convolutions they follow.

Detectron2's ResNet applies every ``FrozenBatchNorm2d`` as its ``Conv2d``'s ``norm``: an affine
map per output channel, ``y = (x - mean) / sqrt(var + eps) * weight + bias``, which a convolution
can absorb into its own weight and bias. Folding removes one pass over every backbone feature map.
A ``BatchNorm2d`` (``MODEL.RESNETS.NORM "BN"``) of a model in eval mode is the same map of its
running statistics, and is folded too.
"""
import torch
from torch import nn

from detectron2.layers import Conv2d, FrozenBatchNorm2d

__all__ = ["fold_frozen_batchnorm"]


def fold_frozen_batchnorm(model: nn.Module) -> int:
    """Fold every ``FrozenBatchNorm2d`` that is a Detectron2 ``Conv2d``'s ``norm`` into that conv,
    in place, and every ``BatchNorm2d`` norm with running statistics whose conv is in eval mode;
    returns how many were folded.

    For deployment and benchmarks: the outputs change only by float rounding (the folded weights are
    computed in float64, then cast back), but the model's state dict changes (each folded conv gains
    a ``bias``, its ``norm`` buffers go), so a checkpoint saved afterwards loads only into a folded
    model. The folded bias keeps the weight's ``requires_grad``; do not train a folded model.
    """
    convs = [m for m in model.modules() if isinstance(m, Conv2d) and _foldable(m)]
    for conv in convs:
        _fold_into(conv, conv.norm)
        conv.norm = None
    return len(convs)


def _foldable(conv: Conv2d) -> bool:
    """A frozen norm, or an eval-mode batch norm that uses its running statistics."""
    norm = conv.norm
    if isinstance(norm, FrozenBatchNorm2d):
        return True
    return (type(norm) is nn.BatchNorm2d and not norm.training and not conv.training
            and norm.running_mean is not None)


@torch.no_grad()
def _fold_into(conv: Conv2d, norm: nn.Module) -> None:
    """conv.weight [O, I, kh, kw] *= scale [O]; conv.bias [O] = (bias_conv - mean) * scale + bias_norm."""
    dtype = conv.weight.dtype
    scale = (norm.running_var.double() + norm.eps).rsqrt()
    if norm.weight is not None:  # BatchNorm2d(affine=False) has neither weight nor bias
        scale = scale * norm.weight.double()
    conv_bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    bias = (conv_bias - norm.running_mean.double()) * scale
    if norm.bias is not None:
        bias = bias + norm.bias.double()
    conv.weight.copy_((conv.weight.double() * scale.view(-1, 1, 1, 1)).to(dtype))
    conv.bias = nn.Parameter(bias.to(dtype), requires_grad=conv.weight.requires_grad)

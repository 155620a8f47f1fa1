"""Small functional pieces shared by every DETR-family model."""
import copy

import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    """Feed-forward head: ``num_layers`` Linear layers with ReLU between them (none after the last).

    Submodules are ``layers.0 .. layers.{n-1}`` (official DETR naming, so checkpoints map 1:1).
    """

    def __init__(self, input_dim, hidden_dim, output_dim, num_layers):
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out))

    def forward(self, x):
        """x: [..., input_dim] -> [..., output_dim]."""
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < len(self.layers) - 1:
                x = F.relu(x)
        return x


def inverse_sigmoid(x, eps=1e-5):
    """Numerically safe logit: log(x / (1 - x)) with both terms clamped at ``eps`` (official)."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def clone_modules(module, count):
    """``count`` independent deep copies of ``module`` in a ModuleList (layers do not share weights)."""
    return nn.ModuleList(copy.deepcopy(module) for _ in range(count))


def activation_by_name(name):
    """The activation function called ``name`` ("relu", "gelu", "glu")."""
    table = {"relu": F.relu, "gelu": F.gelu, "glu": F.glu}
    if name not in table:
        raise ValueError(f"Unknown activation {name!r}; expected one of {sorted(table)}")
    return table[name]


# Reshaping between [B, N, C] token tensors and per-head [B, H, N, C / H] tensors.
def split_heads(x, num_heads):
    """x: [B, N, C] -> [B, H, N, C / H]."""
    batch, length, channels = x.shape
    return x.view(batch, length, num_heads, channels // num_heads).transpose(1, 2)


def merge_heads(x):
    """x: [B, H, N, D] -> [B, N, H * D]."""
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)

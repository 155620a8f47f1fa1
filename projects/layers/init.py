"""Parameter initialisations the official DETR-family code applies after construction."""
import math

from torch import nn


def xavier_init_matrices(module):
    """Official DETR-family transformer init: xavier-uniform on every parameter with dim > 1."""
    for param in module.parameters():
        if param.dim() > 1:
            nn.init.xavier_uniform_(param)


def init_focal_class_bias(linear, prior_prob=0.01):
    """Focal-loss prior (Lin et al. 2017, Sec. 4.1): every class starts at probability ``prior_prob``.

    Official Deformable DETR / Conditional DETR / SMCA: bias = -log((1 - p) / p).
    """
    nn.init.constant_(linear.bias, -math.log((1 - prior_prob) / prior_prob))


def zero_last_layer(mlp):
    """Zero weight and bias of an MLP's last Linear: a box head then starts exactly at its reference."""
    nn.init.zeros_(mlp.layers[-1].weight)
    nn.init.zeros_(mlp.layers[-1].bias)

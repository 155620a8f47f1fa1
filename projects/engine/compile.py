"""MODEL.COMPILE: torch.compile of a model's tensor core, for training and evaluation.

``DETRBase.predict`` (backbone features, masks and targets -> outputs) compiles as one graph
(``fullgraph=True``; the deformable attention op is one node), in eval mode and for training
steps. The Detectron2 parts around it stay eager: input dicts and ``ImageList`` padding,
``Instances`` targets and results, the Hungarian matching (scipy) and the loss bookkeeping.
"""
import torch
from torch import nn


def compile_model(model: nn.Module, backend: str = "inductor") -> nn.Module:
    """Compile ``model.predict`` in place (an instance attribute over the method: parameters,
    state dict and checkpoints are untouched) and return ``model``."""
    model.predict = torch.compile(model.predict, fullgraph=True, backend=backend)
    return model


def compile_if_configured(model: nn.Module, cfg) -> nn.Module:
    """``compile_model(model)`` when cfg.MODEL.COMPILE is True; ``model`` unchanged otherwise."""
    return compile_model(model) if cfg.MODEL.COMPILE else model

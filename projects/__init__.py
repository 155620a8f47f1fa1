"""Shared core of the DETR family for Detectron2, grouped by job as Detectron2 groups its own:

config.py       the shared keys (``add_detr_config``) and the one config entrance (``load_config``)
registry.py     the method registry: what the core and the tools know about each installed method
modeling/       DETRBase, the single-level base, backbone adapter, class loss, criterion, matcher
layers/         building blocks two methods use (transformer layers, embeddings, boxes, heads, ...)
engine/         Trainer, AMP, EMA, finite checks, solver, training curves, launch (train_net.py's work)
checkpoint/     the one safe reader and atomic writer, DetrCheckpointer, weights fit, official converters
data/           dataset mapper, augmentation, resumable loader, the embedded dataset, image checks
detr/           the DETR baseline (registered as ``DETR``)
deploy/ visualization/ pretrain/ benchmark/ utils/

Public names here: add_detr_config, load_config, DETR, DETRBase, pack_outputs (each subpackage's
docstring names its own). Importing this package registers the baseline ``DETR``; ``load_config``
registers every installed method. Typical use::

    from detectron2.modeling import build_model
    from projects import load_config

    cfg = load_config("configs/detr/detr_r50_300ep.yaml", ["MODEL.DEVICE", "cpu"])
    model = build_model(cfg)
"""
from projects.config import add_detr_config, load_config
from projects.detr import DETR
from projects.modeling.meta_arch import DETRBase, pack_outputs

__all__ = ["add_detr_config", "load_config", "DETR", "DETRBase", "pack_outputs"]

"""Prove that converted weights fill a model exactly: every key used, every entry filled, shapes equal."""
import re
from typing import Dict, Iterable

import torch

from projects.checkpoint.errors import ConversionError


def check_conversion(model_state: Dict[str, torch.Tensor], converted: Dict[str, torch.Tensor],
                     ignore: Iterable[str] = ()) -> None:
    """Raise ConversionError listing unused keys, unfilled model entries and shape mismatches.

    ``ignore`` holds regexes of model entries a checkpoint need not fill (e.g. loss buffers).
    """
    ignored = [re.compile(p) for p in ignore]
    needed = {k for k in model_state if not any(p.search(k) for p in ignored)}
    unused = sorted(set(converted) - set(model_state))
    missing = sorted(needed - set(converted))
    shapes = sorted(
        f"{k}: checkpoint {tuple(converted[k].shape)} vs model {tuple(model_state[k].shape)}"
        for k in set(converted) & set(model_state)
        if tuple(converted[k].shape) != tuple(model_state[k].shape)
    )
    problems = []
    for title, items in (("unused checkpoint keys", unused), ("model entries not filled", missing),
                         ("shape mismatches", shapes)):
        if items:
            problems.append(f"{len(items)} {title}: {items[:10]}{' ...' if len(items) > 10 else ''}")
    if problems:
        raise ConversionError("; ".join(problems))


def load_cpu_config(add_config, config_file: str, opts=()):
    """The config of ``config_file`` (+ ``opts``) for building a CPU model without weights;
    ``add_config`` is the method's ``add_<method>_config``."""
    from detectron2.config import get_cfg

    cfg = get_cfg()
    add_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts) + ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    return cfg


def check_against_config(converted: Dict[str, torch.Tensor], cfg) -> None:
    """Raise ConversionError unless ``converted`` fills the model built from ``cfg`` exactly."""
    from detectron2.modeling import build_model

    check_conversion(build_model(cfg).state_dict(), converted)

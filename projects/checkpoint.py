"""Helpers for converting official DETR-family checkpoints to this project's parameter names.

A converter is a list of (regex, replacement) rules applied in order to each official key (the
first matching rule wins; a key no rule matches keeps its name). ``check_conversion`` proves that
the conversion is complete: every official key consumed, every model entry filled, shapes equal.
"""
import re
from typing import Dict, Iterable, List, Sequence, Tuple

import torch

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

# torchvision ResNet (official DETR/Deformable DETR trunks) -> Detectron2 ResNet naming.
TORCHVISION_RESNET_RULES: List[Tuple[str, str]] = [
    (r"^conv1\.(.*)$", r"stem.conv1.\1"),
    (r"^bn1\.(.*)$", r"stem.conv1.norm.\1"),
    (r"^layer(\d)\.(\d+)\.bn(\d)\.(.*)$", lambda m: f"res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.norm.{m[4]}"),
    (r"^layer(\d)\.(\d+)\.downsample\.0\.(.*)$", lambda m: f"res{int(m[1]) + 1}.{m[2]}.shortcut.{m[3]}"),
    (r"^layer(\d)\.(\d+)\.downsample\.1\.(.*)$", lambda m: f"res{int(m[1]) + 1}.{m[2]}.shortcut.norm.{m[3]}"),
    (r"^layer(\d)\.(\d+)\.(.*)$", lambda m: f"res{int(m[1]) + 1}.{m[2]}.{m[3]}"),
]

# 0-based rows of a 91-way COCO classifier (category id = row) kept for Detectron2's 80 contiguous ids.
COCO_THING_IDS = [c["id"] for c in COCO_CATEGORIES if c.get("isthing", 0) == 1]


def rename_key(key: str, rules: Sequence[Tuple[str, object]]) -> str:
    """Apply the first rule whose pattern matches ``key``; unmatched keys are returned unchanged."""
    for pattern, replacement in rules:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    return key


def backbone_rules(official_prefix: str, model_prefix: str = "backbone.body."):
    """Rules mapping ``official_prefix`` + torchvision ResNet keys to ``model_prefix`` + Detectron2 keys."""
    prefix = re.escape(official_prefix)
    rules = []
    for pattern, replacement in TORCHVISION_RESNET_RULES:
        body = pattern.lstrip("^")
        if callable(replacement):
            rules.append((f"^{prefix}{body}", lambda m, r=replacement: model_prefix + r(m)))
        else:
            rules.append((f"^{prefix}{body}", model_prefix + replacement))
    return rules


def convert_state_dict(official: Dict[str, torch.Tensor], rules) -> Dict[str, torch.Tensor]:
    """Rename every key of ``official`` with ``rules``; raises if two keys collide."""
    converted = {}
    for key, value in official.items():
        new_key = rename_key(key, rules)
        if new_key in converted:
            raise ValueError(f"Conversion maps two official keys onto {new_key!r} (second: {key!r})")
        converted[new_key] = value
    return converted


def select_coco_classes(tensor: torch.Tensor, with_no_object: bool) -> torch.Tensor:
    """Reduce a 91-class (COCO ids, +1 no-object row when ``with_no_object``) classifier to 80 (+1)."""
    rows = list(COCO_THING_IDS) + ([tensor.shape[0] - 1] if with_no_object else [])
    return tensor[rows]


class ConversionError(RuntimeError):
    """Raised when a converted checkpoint does not fill a model exactly."""


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


def load_official_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint file ({"model": state_dict} or a bare state dict)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(checkpoint, dict) and "model" in checkpoint:
        checkpoint = checkpoint["model"]
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise ValueError(f"{path} does not contain a state dict")
    return checkpoint


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

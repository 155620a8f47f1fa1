"""Official-checkpoint converters: one ``OfficialConverter`` per method, and detection of a checkpoint's method.

A method package hands its converter to the method registry (``Method.converter`` in its
``method.py``, see projects/registry.py); ``registered_converters()`` collects them, so the converter
CLI (tools/convert_checkpoint.py) can ask each one whether it recognises a checkpoint's keys
(``--method auto``).
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Set, Tuple

import torch

StateDict = Mapping[str, torch.Tensor]


class ConversionError(RuntimeError):
    """A converted checkpoint does not fit: unused keys, unfilled model entries, shapes, variant, config."""


class WrongCheckpointError(ConversionError, ValueError):
    """The checkpoint is not of the family a converter was asked for; the message names what it looks like."""

    def __init__(self, expected_family: str, found: str):
        self.expected_family = expected_family
        self.found = found
        super().__init__(f"Not an official {expected_family} checkpoint: {found}")


@dataclass(frozen=True)
class OfficialConverter:
    """How one method reads its official checkpoints.

    detect(state) -> the variant name ("" for a method without variants), or None when the keys (and
        shapes: tensors may be on the meta device) are not this method's official layout.
    convert(state, coco_to_contiguous=False) -> the state dict in this project's names (with
        ``coco_to_contiguous``, the COCO-id class rows reduced to Detectron2's 80 classes).
    check_config(official, converted, cfg) -> raise ConversionError when ``cfg`` asks for another
        variant (optional).
    variant_meta_architectures: variant -> cfg.MODEL.META_ARCHITECTURE, for a method whose variants are
        different meta-architectures (e.g. DAB-DETR's single-scale and deformable models); variants not
        listed use ``meta_architecture``.
    """

    method: str  # the CLI's --method value: the registered method's name, e.g. "detr"
    family: str  # the name in messages, e.g. "DETR"
    meta_architecture: str  # cfg.MODEL.META_ARCHITECTURE of the models it converts for
    detect: Callable[[StateDict], Optional[str]]
    convert: Callable[[StateDict, bool], Dict[str, torch.Tensor]]
    check_config: Optional[Callable] = None
    variant_meta_architectures: Optional[Mapping[str, str]] = None

    def describe(self, variant: str) -> str:
        """``<family> (variant <variant>)``, or the family alone for a method without variants."""
        return f"{self.family} (variant {variant})" if variant else self.family

    def meta_architecture_of(self, variant: str) -> str:
        """cfg.MODEL.META_ARCHITECTURE of the models a checkpoint of ``variant`` converts for."""
        return (self.variant_meta_architectures or {}).get(variant, self.meta_architecture)


def registered_converters() -> Dict[str, OfficialConverter]:
    """The converter of every registered method that has one, by ``--method`` name."""
    from projects.registry import registered_methods

    converters = (method.converter for method in registered_methods().values())
    return {c.method: c for c in converters if c is not None}


def submodule_names(state: StateDict, prefix: str) -> Set[str]:
    """The names of the direct children of ``prefix`` in ``state``'s keys (detection helper), e.g.
    ``{"self_attn", "multihead_attn", "linear1", ...}`` for ``"transformer.decoder.layers.0."``."""
    return {key[len(prefix):].split(".")[0] for key in state if key.startswith(prefix)}


def get_converter(method: str) -> OfficialConverter:
    converters = registered_converters()
    if method not in converters:
        raise ConversionError(f"No converter for method {method!r}; registered: {sorted(converters)}")
    return converters[method]


def identify(state: StateDict) -> List[Tuple[OfficialConverter, str]]:
    """Every registered (converter, variant) whose ``detect`` recognises ``state``."""
    found = []
    for converter in registered_converters().values():
        variant = converter.detect(state)
        if variant is not None:
            found.append((converter, variant))
    return found


def what_it_looks_like(state: StateDict) -> str:
    """A phrase naming the family (and variant) ``state`` belongs to, for error messages."""
    found = identify(state)
    if not found:
        return f"its keys match none of the registered methods ({', '.join(sorted(registered_converters()))})"
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
                              f"({', '.join(sorted(registered_converters()))}): none recognises its keys")
    if len(found) > 1:
        raise ConversionError(f"The checkpoint's keys match several methods "
                              f"({', '.join(c.describe(v) for c, v in found)}); pass --method")
    return found[0]

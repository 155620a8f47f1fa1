"""Convert one official checkpoint file with the registered converters (the body of tools/convert_checkpoint.py),
and prove that converted weights fill a model exactly."""
from typing import Dict, Iterable, NamedTuple, Sequence

import torch

from projects.checkpoint.converters import (
    ConversionError, OfficialConverter, detect_method, get_converter, require_family,
)
from projects.checkpoint.official_file import load_official_checkpoint
from projects.checkpoint.weights_fit import compare_weights


class ConvertedCheckpoint(NamedTuple):
    """An official checkpoint in this project's names, with the method and variant it was read as."""

    converter: OfficialConverter
    variant: str
    official: Dict[str, torch.Tensor]
    state_dict: Dict[str, torch.Tensor]

    def summary(self) -> str:
        return f"{self.converter.describe(self.variant)}, {len(self.state_dict)} tensors"


def convert_official_file(source, method: str = "auto", keep_coco_ids: bool = False) -> ConvertedCheckpoint:
    """Read ``source`` safely and convert it with ``method``'s converter (``"auto"``: the one that
    recognises its keys). Raises WrongCheckpointError when ``method`` is not the checkpoint's family."""
    official = load_official_checkpoint(source)
    if method == "auto":
        converter, variant = detect_method(official)
    else:
        converter = get_converter(method)
        variant = require_family(converter, official)
    converted = converter.convert(official, not keep_coco_ids)
    return ConvertedCheckpoint(converter, variant, official, converted)


def check_conversion(model_state: Dict[str, torch.Tensor], converted: Dict[str, torch.Tensor],
                     ignore: Iterable[str] = ()) -> None:
    """Raise ConversionError unless ``converted`` fills ``model_state`` exactly: every key used, every
    entry filled, shapes equal. ``ignore``: regexes of model entries it need not fill (e.g. loss buffers)."""
    fit = compare_weights(model_state, converted, ignore)
    if not fit.exact:
        raise ConversionError(fit.describe(examples=10))


def check_against_config(converted: Dict[str, torch.Tensor], cfg) -> None:
    """Raise ConversionError unless ``converted`` fills the model built from ``cfg`` exactly."""
    from detectron2.modeling import build_model

    check_conversion(build_model(cfg).state_dict(), converted)


def check_fits_config(result: ConvertedCheckpoint, config_file: str, opts: Sequence[str] = ()) -> None:
    """Build the model of ``config_file`` (+ ``opts``) on the CPU and raise ConversionError unless the
    converted weights fill it exactly (the method's own variant checks first, for a precise message)."""
    from projects.config import load_config

    converter = result.converter
    try:
        cfg = load_config(config_file, list(opts) + ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    except KeyError as error:  # yacs: a key no registered method has; or an unregistered meta-architecture
        raise ConversionError(f"{config_file} is not a {converter.family} config ({error.args[0]})") from error
    architecture = converter.meta_architecture_of(result.variant)
    if cfg.MODEL.META_ARCHITECTURE != architecture:
        raise ConversionError(f"{config_file} builds {cfg.MODEL.META_ARCHITECTURE}, but the checkpoint is "
                              f"{converter.describe(result.variant)} (META_ARCHITECTURE {architecture})")
    if converter.check_config is not None:
        converter.check_config(result.official, result.state_dict, cfg)
    try:
        check_against_config(result.state_dict, cfg)
    except ConversionError as error:
        raise ConversionError(f"the converted weights do not fit the model of {config_file}: {error}") from error

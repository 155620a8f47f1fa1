"""Convert one official checkpoint file with the registered converters (the body of tools/convert_checkpoint.py)."""
from typing import Dict, NamedTuple, Sequence

import torch

from projects.checkpoint.errors import ConversionError
from projects.checkpoint.official_file import load_official_checkpoint
from projects.checkpoint.registry import OfficialConverter, detect_method, get_converter, require_family
from projects.checkpoint.verify import check_against_config, load_cpu_config


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


def check_fits_config(result: ConvertedCheckpoint, config_file: str, opts: Sequence[str] = ()) -> None:
    """Build the model of ``config_file`` (+ ``opts``) and raise ConversionError unless the converted
    weights fill it exactly (the method's own variant checks first, for a precise message)."""
    converter = result.converter
    try:
        cfg = load_cpu_config(converter.add_config, config_file, opts)
    except KeyError as error:  # yacs: a key of another method's config
        raise ConversionError(f"{config_file} is not a {converter.family} config ({error.args[0]})") from error
    if cfg.MODEL.META_ARCHITECTURE != converter.meta_architecture:
        raise ConversionError(f"{config_file} builds {cfg.MODEL.META_ARCHITECTURE}, but the checkpoint is "
                              f"{converter.describe(result.variant)} (META_ARCHITECTURE {converter.meta_architecture})")
    if converter.check_config is not None:
        converter.check_config(result.official, result.state_dict, cfg)
    try:
        check_against_config(result.state_dict, cfg)
    except ConversionError as error:
        raise ConversionError(f"the converted weights do not fit the model of {config_file}: {error}") from error

"""Official DETR-family checkpoints: safe reading, key conversion, method detection, completeness checks.

``rules``          the key-renaming rules every official layout shares (trunk, layer FFNs)
``coco_classes``   COCO-id classifier -> Detectron2's 80 contiguous classes
``registry``       one ``OfficialConverter`` per method (registered by the method package), detection
``official_file``  weights-only reading with an explicit allow-list; writing the converted file
``verify``         converted weights fill a model exactly
``convert_file``   one file end to end (tools/convert_checkpoint.py)
"""
from projects.checkpoint.coco_classes import COCO_THING_IDS, reduce_class_head, select_coco_classes
from projects.checkpoint.convert_file import ConvertedCheckpoint, check_fits_config, convert_official_file
from projects.checkpoint.errors import ConversionError, UnreadableCheckpointError, WrongCheckpointError
from projects.checkpoint.official_file import (
    OFFICIAL_CHECKPOINT_GLOBALS, load_official_checkpoint, read_checkpoint_file, save_converted_checkpoint,
)
from projects.checkpoint.registry import (
    CONVERTERS, OfficialConverter, detect_method, get_converter, identify, register_converter, require_family,
    submodule_names,
)
from projects.checkpoint.rules import SHARED_RULES, backbone_rules, convert_state_dict, rename_key
from projects.checkpoint.verify import check_against_config, check_conversion, load_cpu_config

__all__ = [
    "COCO_THING_IDS",
    "CONVERTERS",
    "ConversionError",
    "ConvertedCheckpoint",
    "OFFICIAL_CHECKPOINT_GLOBALS",
    "OfficialConverter",
    "SHARED_RULES",
    "UnreadableCheckpointError",
    "WrongCheckpointError",
    "backbone_rules",
    "check_against_config",
    "check_conversion",
    "check_fits_config",
    "convert_official_file",
    "convert_state_dict",
    "detect_method",
    "get_converter",
    "identify",
    "load_cpu_config",
    "load_official_checkpoint",
    "read_checkpoint_file",
    "reduce_class_head",
    "register_converter",
    "rename_key",
    "require_family",
    "save_converted_checkpoint",
    "select_coco_classes",
    "submodule_names",
]

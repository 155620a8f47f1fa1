"""Checkpoints: the one safe reader and atomic writer, the weights-fit check, the checkpointer, and
official checkpoints (conversion, method detection).

``files``          the one safe reader (restricted unpickler for .pkl, ``weights_only`` for torch
                   files, optional allow-list) and ``atomic_write``; one error family
``weights_fit``    do these weights fit this model (``compare_weights``), MODEL.WEIGHTS_MODE
``checkpointer``   ``DetrCheckpointer``: training, resume, evaluation and the viewers load through it
``rules``          the key-renaming rules every official layout shares (trunk, layer FFNs)
``coco_classes``   COCO-id classifier -> Detectron2's 80 contiguous classes
``converters``     ``OfficialConverter`` (each method registers its own as ``Method.converter``), detection
``official_file``  reading official files (argparse.Namespace allowed), writing the converted file
``official_args``  the official training scripts' shared arguments -> MODEL.DETR keys (test harness)
``convert_file``   one file end to end (tools/convert_checkpoint.py), exact-fit check of a conversion

Public (imported by the method packages, the tools and users): every name in ``__all__``.
"""
from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.checkpoint.coco_classes import COCO_THING_IDS, reduce_class_head, select_coco_classes
from projects.checkpoint.convert_file import (
    ConvertedCheckpoint, check_against_config, check_conversion, check_fits_config, convert_official_file,
)
from projects.checkpoint.converters import (
    ConversionError, OfficialConverter, WrongCheckpointError, detect_method, get_converter, identify,
    registered_converters, require_family, submodule_names,
)
from projects.checkpoint.files import (
    CorruptCheckpointError, UnreadableCheckpointError, UnsafeCheckpointError, atomic_write, read_pickled_weights,
    read_torch_file,
)
from projects.checkpoint.official_file import (
    OFFICIAL_CHECKPOINT_GLOBALS, load_official_checkpoint, read_checkpoint_file, save_converted_checkpoint,
)
from projects.checkpoint.rules import SHARED_RULES, backbone_rules, convert_state_dict, rename_key
from projects.checkpoint.weights_fit import (
    WEIGHTS_MODES, WeightsFit, WeightsMismatchError, check_weights_fit, compare_weights, guess_method,
)

__all__ = [
    "COCO_THING_IDS",
    "ConversionError",
    "ConvertedCheckpoint",
    "CorruptCheckpointError",
    "DetrCheckpointer",
    "OFFICIAL_CHECKPOINT_GLOBALS",
    "OfficialConverter",
    "SHARED_RULES",
    "UnreadableCheckpointError",
    "UnsafeCheckpointError",
    "WEIGHTS_MODES",
    "WeightsFit",
    "WeightsMismatchError",
    "WrongCheckpointError",
    "atomic_write",
    "backbone_rules",
    "check_against_config",
    "check_conversion",
    "check_fits_config",
    "check_weights_fit",
    "compare_weights",
    "convert_official_file",
    "convert_state_dict",
    "detect_method",
    "get_converter",
    "guess_method",
    "identify",
    "load_official_checkpoint",
    "read_checkpoint_file",
    "read_pickled_weights",
    "read_torch_file",
    "reduce_class_head",
    "registered_converters",
    "rename_key",
    "require_family",
    "save_converted_checkpoint",
    "select_coco_classes",
    "submodule_names",
]

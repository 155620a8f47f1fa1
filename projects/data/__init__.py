"""Data side of the project: DETR dataset mapper and augmentation, the embedded dataset, checks, and the
NEON tree crowns (``tree_crowns``: VOC XML in ``voc_xml``, tiles in ``tiling``), registered on import."""
from projects.data.augmentation import build_detr_augmentation
from projects.data.config import add_detr_data_config
from projects.data.dataset_checks import check_dataset_paths
from projects.data.dataset_mapper import DetrDatasetMapper
from projects.data.embedded_dataset import (
    DEFAULT_NUM_TRAIN,
    DEFAULT_NUM_VAL,
    EMBEDDED_CLASS_NAMES,
    EMBEDDED_DATASET_NAMES,
    default_embedded_root,
    ensure_embedded_dataset,
    register_embedded_dataset,
)
from projects.data.tree_crowns import TREE_CROWN_DATASET_NAMES, ensure_tree_crowns, register_tree_crowns

register_tree_crowns()  # lazy, like Detectron2's builtin datasets: the tiles are made on first DatasetCatalog.get

__all__ = [
    "DEFAULT_NUM_TRAIN",
    "DEFAULT_NUM_VAL",
    "DetrDatasetMapper",
    "EMBEDDED_CLASS_NAMES",
    "EMBEDDED_DATASET_NAMES",
    "TREE_CROWN_DATASET_NAMES",
    "add_detr_data_config",
    "build_detr_augmentation",
    "check_dataset_paths",
    "default_embedded_root",
    "ensure_embedded_dataset",
    "ensure_tree_crowns",
    "register_embedded_dataset",
    "register_tree_crowns",
]

"""Fail early, with the path in the message, when a registered COCO-format dataset is missing."""
from typing import Iterable, Union

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.file_io import PathManager


def check_dataset_paths(dataset_names: Union[str, Iterable[str]]) -> None:
    """Check that the annotation file and image folder of each named dataset exist.

    Looks up ``json_file`` and ``image_root`` in the MetadataCatalog (set by
    ``register_coco_instances`` and Detectron2's builtin COCO registration). Datasets registered
    without these entries (custom loaders) are not checked.

    Raises:
        KeyError: a name is not registered in the DatasetCatalog.
        FileNotFoundError: the json file or image folder is missing; the message names the path
            and the dataset.
    """
    names = [dataset_names] if isinstance(dataset_names, str) else list(dataset_names)
    for name in names:
        if name not in DatasetCatalog.list():
            raise KeyError(f"Dataset '{name}' is not registered. Registered datasets: "
                           f"{', '.join(sorted(DatasetCatalog.list()))}")
        metadata = MetadataCatalog.get(name)
        json_file = metadata.get("json_file", None)
        image_root = metadata.get("image_root", None)
        if json_file is not None and not PathManager.isfile(json_file):
            raise FileNotFoundError(f"Annotation file of dataset '{name}' not found: {json_file}")
        if image_root is not None and not PathManager.isdir(image_root):
            raise FileNotFoundError(f"Image folder of dataset '{name}' not found: {image_root}")

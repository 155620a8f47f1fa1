"""A small copy of the embedded dataset, registered under its usual names for the duration of a module."""
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from projects.data import EMBEDDED_DATASET_NAMES, register_embedded_dataset

SMALL_NUM_TRAIN = 8  # image index 7 has no objects (embedded dataset rule)
SMALL_NUM_VAL = 2


@pytest.fixture(scope="module")
def embedded_small(tmp_path_factory):
    """Register a small embedded_shapes copy; hide and afterwards restore any existing registration."""
    names = list(EMBEDDED_DATASET_NAMES.values())
    saved = {name: (DatasetCatalog.pop(name, None), MetadataCatalog.pop(name, None)) for name in names}
    register_embedded_dataset(tmp_path_factory.mktemp("embedded") / "embedded_shapes",
                              num_train=SMALL_NUM_TRAIN, num_val=SMALL_NUM_VAL)
    yield {split: DatasetCatalog.get(name) for split, name in EMBEDDED_DATASET_NAMES.items()}
    for name, (loader, metadata) in saved.items():
        DatasetCatalog.pop(name, None)
        MetadataCatalog.pop(name, None)
        if loader is not None:
            DatasetCatalog[name] = loader
        if metadata is not None:
            MetadataCatalog[name] = metadata

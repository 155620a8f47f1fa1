"""Shared fixtures: a small embedded dataset and an isolated dataset registration."""
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from projects.data import EMBEDDED_DATASET_NAMES, ensure_embedded_dataset

SMALL_NUM_TRAIN = 12   # index 7 is an image without objects
SMALL_NUM_VAL = 4


@pytest.fixture(scope="session")
def small_embedded_root(tmp_path_factory):
    """A small embedded dataset generated once per test session."""
    return ensure_embedded_dataset(tmp_path_factory.mktemp("embedded") / "embedded_shapes",
                                   num_train=SMALL_NUM_TRAIN, num_val=SMALL_NUM_VAL)


@pytest.fixture
def isolated_registration():
    """Hide any existing embedded_shapes registration during the test and restore it afterwards."""
    names = list(EMBEDDED_DATASET_NAMES.values())
    saved = {n: (DatasetCatalog.pop(n, None), MetadataCatalog.pop(n, None)) for n in names}
    yield names
    for name, (loader, metadata) in saved.items():
        DatasetCatalog.pop(name, None)
        MetadataCatalog.pop(name, None)
        if loader is not None:
            DatasetCatalog[name] = loader
        if metadata is not None:
            MetadataCatalog[name] = metadata

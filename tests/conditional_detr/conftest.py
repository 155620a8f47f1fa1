"""A small copy of the embedded dataset, registered under its usual names for the duration of a module."""
import pytest

from detectron2.data import DatasetCatalog

from projects.data import EMBEDDED_DATASET_NAMES, register_embedded_dataset
from tests.dataset_utils import hidden_embedded_registration

SMALL_NUM_TRAIN = 8  # image index 7 has no objects (embedded dataset rule)
SMALL_NUM_VAL = 2


@pytest.fixture(scope="module")
def embedded_small(tmp_path_factory):
    """Register a small embedded_shapes copy; hide and afterwards restore any existing registration."""
    with hidden_embedded_registration():
        register_embedded_dataset(tmp_path_factory.mktemp("embedded") / "embedded_shapes",
                                  num_train=SMALL_NUM_TRAIN, num_val=SMALL_NUM_VAL)
        yield {split: DatasetCatalog.get(name) for split, name in EMBEDDED_DATASET_NAMES.items()}

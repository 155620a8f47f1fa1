"""Shared fixtures: a small embedded dataset and an isolated dataset registration."""
import pytest

from projects.data import ensure_embedded_dataset
from tests.dataset_utils import hidden_embedded_registration

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
    with hidden_embedded_registration() as names:
        yield names

"""An isolated dataset registration for the data tests (the small embedded copy is in tests/conftest.py)."""
import pytest

from tests.harness.dataset_utils import hidden_embedded_registration


@pytest.fixture
def isolated_registration():
    """Hide any existing embedded_shapes registration during the test and restore it afterwards."""
    with hidden_embedded_registration() as names:
        yield names

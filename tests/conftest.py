"""Suite-wide setup: thread count, order independence, and one small embedded dataset.

* ``--torch-threads N`` sets torch's intra-op threads for the run (default: torch's own choice,
  e.g. from OMP_NUM_THREADS). The report header names the thread count and the CPU's SIMD level:
  the two things the last bits of float results depend on.
* Every test starts from the same RNG state, and must leave torch's global settings as it found
  them, so that the result does not depend on the order tests run in.
* For the whole session the embedded dataset names (embedded_shapes_train/val) stand for a small
  copy (12 train / 4 val images) generated once into the session's temporary folder; any
  registration made before is restored at the end.
"""
import pytest
import torch

from detectron2.data import DatasetCatalog
from detectron2.utils.env import seed_all_rng

from projects.data import EMBEDDED_DATASET_NAMES, ensure_embedded_dataset
from tests.dataset_utils import EMPTY_INDEX, SMALL_NUM_TRAIN, SMALL_NUM_VAL, small_embedded_registration


def pytest_addoption(parser):
    parser.addoption("--torch-threads", type=int, default=None,
                     help="torch.set_num_threads(N) for the whole run (default: torch's own choice)")


def pytest_configure(config):
    threads = config.getoption("--torch-threads")
    if threads:
        torch.set_num_threads(threads)


def pytest_report_header(config):
    return (f"torch {torch.__version__}: {torch.get_num_threads()} intra-op threads, "
            f"CPU capability {torch.backends.cpu.get_cpu_capability()}")


def _torch_globals():
    return {"num_threads": torch.get_num_threads(), "default_dtype": torch.get_default_dtype(),
            "grad_enabled": torch.is_grad_enabled(), "deterministic": torch.are_deterministic_algorithms_enabled()}


@pytest.fixture(autouse=True)
def _same_start_for_every_test():
    """Seed torch / numpy / random, run the test, then fail it if it changed torch's global settings."""
    before = _torch_globals()
    seed_all_rng(0)
    yield
    after = _torch_globals()
    torch.set_num_threads(before["num_threads"])
    torch.set_default_dtype(before["default_dtype"])
    torch.set_grad_enabled(before["grad_enabled"])
    torch.use_deterministic_algorithms(before["deterministic"])
    assert after == before, f"the test changed torch's global settings: {before} -> {after}"


@pytest.fixture(scope="session")
def small_embedded_root(tmp_path_factory):
    """A small embedded dataset (12 train / 4 val images), generated once per session."""
    return ensure_embedded_dataset(tmp_path_factory.mktemp("embedded") / "embedded_shapes",
                                   num_train=SMALL_NUM_TRAIN, num_val=SMALL_NUM_VAL)


@pytest.fixture(scope="session", autouse=True)
def _small_embedded_registration(small_embedded_root):
    """embedded_shapes_{train,val} = the small copy, for every test (tests that need the names free hide
    them with tests.dataset_utils.hidden_embedded_registration)."""
    with small_embedded_registration(small_embedded_root):
        yield


@pytest.fixture(scope="session")
def train_records(_small_embedded_registration):
    """Two train records of the small copy: [one with objects, one without]."""
    records = DatasetCatalog.get(EMBEDDED_DATASET_NAMES["train"])
    assert records[0]["annotations"] and not records[EMPTY_INDEX]["annotations"]
    return [records[0], records[EMPTY_INDEX]]

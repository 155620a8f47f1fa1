"""Suite-wide setup: thread count, order independence, and one small embedded dataset.

* ``--torch-threads N`` sets torch's intra-op threads for the run (default: torch's own choice,
  e.g. from OMP_NUM_THREADS). The report header names the thread count and the CPU's SIMD level:
  the two things the last bits of float results depend on.
* Every test starts from the same RNG state, must leave torch's global settings as it found them,
  and gets the logging configuration back as it was (tests/harness/global_state.py), so that the result
  does not depend on the order tests run in.
* For the whole session the embedded dataset names (embedded_shapes_train/val) stand for a small
  copy (12 train / 4 val images) generated once into the session's temporary folder; any
  registration made before is restored at the end.
"""
import pytest
import torch

from detectron2.data import DatasetCatalog
from detectron2.utils.env import seed_all_rng

from projects.data import EMBEDDED_DATASET_NAMES, ensure_embedded_dataset
from tests.harness.dataset_utils import EMPTY_INDEX, SMALL_NUM_TRAIN, SMALL_NUM_VAL, small_embedded_registration
from tests.harness.global_state import restore_logging, set_torch_globals, snapshot_logging, torch_globals

LOGGING_BEFORE_SETUP = pytest.StashKey()


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


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    """Note the logging configuration before the test and its fixtures (of any scope) are set up."""
    item.stash[LOGGING_BEFORE_SETUP] = snapshot_logging()
    yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """After the teardown, give logging back as it was before the setup."""
    yield
    restore_logging(item.stash[LOGGING_BEFORE_SETUP])


@pytest.fixture(autouse=True)
def _same_start_for_every_test():
    """Seed torch / numpy / random, run the test, and fail it if it changed torch's global settings
    (they are restored either way)."""
    before = torch_globals()
    seed_all_rng(0)
    yield
    after = torch_globals()
    set_torch_globals(before)
    assert after == before, f"the test changed torch's global settings: {before} -> {after}"


@pytest.fixture(scope="session")
def small_embedded_root(tmp_path_factory):
    """A small embedded dataset (12 train / 4 val images), generated once per session."""
    return ensure_embedded_dataset(tmp_path_factory.mktemp("embedded") / "embedded_shapes",
                                   num_train=SMALL_NUM_TRAIN, num_val=SMALL_NUM_VAL)


@pytest.fixture(scope="session", autouse=True)
def _small_embedded_registration(small_embedded_root):
    """embedded_shapes_{train,val} = the small copy, for every test (tests that need the names free hide
    them with tests.harness.dataset_utils.hidden_embedded_registration)."""
    with small_embedded_registration(small_embedded_root):
        yield


@pytest.fixture(scope="session")
def train_records(_small_embedded_registration):
    """Two train records of the small copy: [one with objects, one without]."""
    records = DatasetCatalog.get(EMBEDDED_DATASET_NAMES["train"])
    assert records[0]["annotations"] and not records[EMPTY_INDEX]["annotations"]
    return [records[0], records[EMPTY_INDEX]]

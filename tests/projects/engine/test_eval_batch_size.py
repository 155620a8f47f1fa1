"""TEST.IMS_PER_BATCH sets the evaluation loader's batch size (issue 10, item 6, config part)."""
import pytest

from projects.engine.trainer import Trainer

from tests.harness.fast_config import fast_cfg


@pytest.mark.parametrize("batch_size", [1, 3])
def test_eval_loader_uses_test_ims_per_batch(tmp_path, batch_size):
    cfg = fast_cfg(tmp_path, extra=["TEST.IMS_PER_BATCH", batch_size])
    loader = Trainer.build_test_loader(cfg, "embedded_shapes_val")
    first = next(iter(loader))
    assert len(first) == batch_size
    assert all("image" in item and "instances" not in item for item in first)

"""Fixtures of the core's tests: the fast tiny DETR quickstart config and its model."""
import pytest

from detectron2.modeling import build_model

from tests.harness.fast_config import fast_cfg


@pytest.fixture
def tiny_detr_cfg(tmp_path):
    """The tiny DETR quickstart config writing to ``tmp_path / "out"``."""
    return fast_cfg(tmp_path / "out")


@pytest.fixture
def tiny_detr(tiny_detr_cfg):
    return build_model(tiny_detr_cfg)

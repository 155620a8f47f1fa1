"""Inputs shared by the tool tests: a few embedded-dataset images as PNG, a tiny DETR checkpoint."""
import pytest

from projects.data import register_embedded_dataset
from tests.tools.tool_utils import DETR_CONFIG, TINY_OPTS, copy_as_png, save_random_checkpoint


@pytest.fixture(scope="session")
def embedded_root():
    return register_embedded_dataset()


@pytest.fixture(scope="session")
def val_pngs(embedded_root, tmp_path_factory):
    """Three validation images (all with objects) as PNG files in their own folder."""
    sources = [embedded_root / "val" / f"{index:06d}.jpg" for index in range(3)]
    return copy_as_png(sources, tmp_path_factory.mktemp("val_pngs"))


@pytest.fixture(scope="session")
def detr_checkpoint(tmp_path_factory):
    """A randomly initialised tiny DETR saved as a Detectron2 checkpoint."""
    return save_random_checkpoint(DETR_CONFIG, TINY_OPTS, tmp_path_factory.mktemp("ckpt") / "tiny_detr.pth")

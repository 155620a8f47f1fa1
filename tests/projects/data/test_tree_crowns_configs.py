"""The configs for the real-data runs: each builds its model on the ImageNet EfficientNet-Lite trunk with the
trunk's own pixel statistics, trains and tests on the tree crowns with enough queries for a full tile."""
from pathlib import Path

import pytest

from detectron2.modeling import build_model

from projects.config import load_config
from projects.data.tree_crowns import TREE_CROWN_DATASET_NAMES, source_folder
from projects.data.voc_xml import read_voc
from projects.modeling.efficientnet.classifier import PIXEL_MEAN, PIXEL_STD
from projects.modeling.efficientnet.trunk import EfficientNetLite

ROOT = Path(__file__).resolve().parents[3]
TREE_CONFIGS = sorted((ROOT / "configs" / "tree_crowns").glob("[!B]*.yaml"))
DETECTRON2_PEERS = {"retinanet", "faster_rcnn"}


def _trunk(model):
    return next(m for m in model.modules() if isinstance(m, EfficientNetLite))


@pytest.mark.parametrize("path", TREE_CONFIGS + [ROOT / "configs/embedded_pretrained/main_job_imagenet_trunk.yaml"],
                         ids=lambda p: p.stem)
def test_config_builds_on_the_imagenet_trunk(path):
    cfg = load_config(str(path), ["MODEL.DEVICE", "cpu"])
    assert cfg.MODEL.WEIGHTS == "imagenet-efficientnet://lite0.pkl"
    assert tuple(cfg.MODEL.PIXEL_MEAN) == PIXEL_MEAN and tuple(cfg.MODEL.PIXEL_STD) == PIXEL_STD
    assert cfg.INPUT.FORMAT == "RGB"
    trunk = _trunk(build_model(cfg))
    assert trunk.variant == "lite0"
    assert not any(p.requires_grad for p in trunk.stem.parameters())  # FREEZE_AT 2 as the ResNet configs


@pytest.mark.parametrize("path", TREE_CONFIGS, ids=lambda p: p.stem)
def test_tree_crown_configs_use_the_dataset_and_enough_detections(path):
    cfg = load_config(str(path))
    assert tuple(cfg.DATASETS.TRAIN) == (TREE_CROWN_DATASET_NAMES["train"],)
    assert tuple(cfg.DATASETS.TEST) == (TREE_CROWN_DATASET_NAMES["val"],)
    most_crowns_in_a_tile = len(read_voc(source_folder() / "OSBS_029.xml").boxes)  # a whole 400 px tile
    assert cfg.TEST.DETECTIONS_PER_IMAGE >= most_crowns_in_a_tile
    if path.stem not in DETECTRON2_PEERS:
        assert cfg.MODEL.DETR.NUM_CLASSES == 1
        assert cfg.MODEL.DETR.NUM_OBJECT_QUERIES >= most_crowns_in_a_tile
        assert cfg.MODEL.DETR.NUM_TOPK_TEST >= most_crowns_in_a_tile

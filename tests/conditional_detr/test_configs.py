"""Every Conditional DETR config merges, has the paper's schedule, and builds its model."""
import math
import re
from pathlib import Path

import pytest

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from conditional_detr import ConditionalDETR, add_conditional_detr_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "configs" / "conditional_detr"
SCHEDULE_CONFIGS = sorted(p for p in CONFIG_DIR.glob("conditional_detr_*.yaml"))
QUICKSTART_CONFIGS = sorted((ROOT / "configs" / "quickstart").glob("conditional_detr_*.yaml"))
ALL_CONFIGS = sorted(CONFIG_DIR.glob("*.yaml")) + QUICKSTART_CONFIGS

COCO_TRAIN_IMAGES = 118_287
LR_DROP_EPOCH = {50: 40, 75: 60, 108: 80}  # paper Sec. 4.1
# official total batch: 8 GPUs x 2 images, DC5 8 GPUs x 1 image (scripts/*.sh)
BATCH = {"r50": 16, "r101": 16, "dc5_r50": 8, "dc5_r101": 8}


def load_cfg(path):
    cfg = get_cfg()
    add_conditional_detr_config(cfg)
    cfg.merge_from_file(str(path))
    return cfg


def test_table1_rows_and_schedules_exist():
    names = {p.name for p in SCHEDULE_CONFIGS}
    expected = {f"conditional_detr_{arch}_{epochs}ep.yaml" for arch in BATCH for epochs in LR_DROP_EPOCH}
    assert expected <= names
    assert QUICKSTART_CONFIGS, "configs/quickstart/conditional_detr_embedded.yaml is missing"


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_config_merges(path):
    cfg = load_cfg(path)
    assert cfg.MODEL.META_ARCHITECTURE == "ConditionalDETR"
    assert cfg.MODEL.DETR.CLASS_LOSS == "focal"


@pytest.mark.parametrize("path", SCHEDULE_CONFIGS, ids=lambda p: p.name)
def test_schedule_in_iterations(path):
    arch, epochs = re.fullmatch(r"conditional_detr_(.+)_(\d+)ep\.yaml", path.name).groups()
    epochs = int(epochs)
    cfg = load_cfg(path)
    iterations_per_epoch = math.ceil(COCO_TRAIN_IMAGES / BATCH[arch])
    assert cfg.SOLVER.IMS_PER_BATCH == BATCH[arch]
    assert cfg.SOLVER.MAX_ITER == epochs * iterations_per_epoch
    assert tuple(cfg.SOLVER.STEPS) == (LR_DROP_EPOCH[epochs] * iterations_per_epoch,)
    assert cfg.SOLVER.BASE_LR == 1e-4 and cfg.SOLVER.BACKBONE_MULTIPLIER == 0.1
    assert cfg.MODEL.RESNETS.DEPTH == (101 if "r101" in arch else 50)
    assert cfg.MODEL.RESNETS.RES5_DILATION == (2 if arch.startswith("dc5") else 1)
    assert cfg.MODEL.DETR.NUM_OBJECT_QUERIES == 300


BUILD_CONFIGS = [CONFIG_DIR / f"conditional_detr_{arch}_50ep.yaml" for arch in BATCH] + QUICKSTART_CONFIGS


@pytest.mark.parametrize("path", BUILD_CONFIGS, ids=lambda p: p.name)
def test_config_builds(path):
    cfg = load_cfg(path)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    model = build_model(cfg)
    assert isinstance(model, ConditionalDETR)
    assert model.query_embed.num_embeddings == cfg.MODEL.DETR.NUM_OBJECT_QUERIES
    assert model.class_embed.out_features == cfg.MODEL.DETR.NUM_CLASSES
    assert model.backbone.strides == [16 if cfg.MODEL.RESNETS.RES5_DILATION == 2 else 32]

"""Every SMCA variant trains a few iterations on the embedded dataset and infers Instances.

Models come from the quickstart configs with tiny overrides; inputs go through the real dataset
mapper (one image with objects, one without).
"""
import pytest
import torch

from detectron2.config import get_cfg
from detectron2.data.datasets import load_coco_json
from detectron2.modeling import build_model
from detectron2.structures import Instances
from detectron2.utils.events import EventStorage

from projects.data import DetrDatasetMapper, ensure_embedded_dataset
from projects.data.embedded_dataset import annotation_file, image_folder
from projects.solver import build_detr_optimizer
from smca import add_smca_config

from .tiny_models import CONFIGS

SINGLE = str(CONFIGS / "quickstart" / "smca_single_scale_embedded.yaml")
MULTI = str(CONFIGS / "quickstart" / "smca_multi_scale_embedded.yaml")
TINY = ["MODEL.DETR.HIDDEN_DIM", 32, "MODEL.DETR.NHEADS", 4, "MODEL.DETR.DIM_FEEDFORWARD", 64,
        "MODEL.DETR.NUM_OBJECT_QUERIES", 10, "MODEL.DETR.NUM_TOPK_TEST", 20, "INPUT.MIN_SIZE_TRAIN", (128,),
        "INPUT.MAX_SIZE_TRAIN", 160, "INPUT.MIN_SIZE_TEST", 128, "INPUT.MAX_SIZE_TEST", 160]
VARIANTS = {
    "single-independent": (SINGLE, []),
    "single-fixed": (SINGLE, ["MODEL.SMCA.SCALE_MODE", "fixed"]),
    "single-single": (SINGLE, ["MODEL.SMCA.SCALE_MODE", "single"]),
    "single-head-shared": (SINGLE, ["MODEL.SMCA.HEAD_SHARED", True]),
    "multi-paper": (MULTI, []),
    "multi-no-scale-selection": (MULTI, ["MODEL.SMCA.SCALE_SELECTION", False]),
    "multi-3multi-shared-kv": (MULTI, ["MODEL.SMCA.ENCODER_BLOCKS", ["multi"] * 3,
                                       "MODEL.SMCA.SHARED_SCALE_PROJECTIONS", True]),
}


def tiny_cfg(config_file, overrides):
    cfg = get_cfg()
    add_smca_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(TINY + overrides)
    return cfg


@pytest.fixture(scope="module")
def dataset_dicts(tmp_path_factory):
    """Two raw dicts of the embedded train split: one with objects, image 7 without (by construction)."""
    root = ensure_embedded_dataset(tmp_path_factory.mktemp("smca") / "embedded_shapes", num_train=8, num_val=2)
    dicts = load_coco_json(str(annotation_file(root, "train")), str(image_folder(root, "train")))
    assert dicts[0]["annotations"] and not dicts[7]["annotations"]
    return [dicts[0], dicts[7]]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_trains_with_finite_losses_and_infers_instances(variant, dataset_dicts):
    torch.manual_seed(0)
    config_file, overrides = VARIANTS[variant]
    cfg = tiny_cfg(config_file, overrides)
    model = build_model(cfg)
    optimizer = build_detr_optimizer(cfg, model)
    batch = [DetrDatasetMapper(cfg, is_train=True)(d) for d in dataset_dicts]
    assert len(batch[0]["instances"]) > 0 and len(batch[1]["instances"]) == 0
    model.train()
    with EventStorage():
        for _ in range(3):
            losses = model(batch)
            assert losses and all(torch.isfinite(v) for v in losses.values()), losses
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        results = model([DetrDatasetMapper(cfg, is_train=False)(d) for d in dataset_dicts])
    for result, raw in zip(results, dataset_dicts):
        instances = result["instances"]
        assert isinstance(instances, Instances) and instances.image_size == (raw["height"], raw["width"])
        assert len(instances) == 20 and torch.isfinite(instances.pred_boxes.tensor).all()
        assert int(instances.pred_classes.max()) < 4  # sigmoid head: no no-object column


def test_config_errors_are_clear():
    cfg = tiny_cfg(MULTI, ["MODEL.DETR.ENC_LAYERS", 5])
    with pytest.raises(ValueError, match="ENCODER_BLOCKS"):
        build_model(cfg)
    cfg = tiny_cfg(SINGLE, ["MODEL.DETR.CLASS_LOSS", "softmax"])
    with pytest.raises(ValueError, match="focal"):
        build_model(cfg)
    cfg = tiny_cfg(SINGLE, ["MODEL.SMCA.SCALE_MODE", "type3"])
    with pytest.raises(ValueError, match="independent"):
        build_model(cfg)

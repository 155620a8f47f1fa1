"""A few training iterations and inference on the embedded dataset (R50 and DC5-R50 at tiny widths)."""
import math

import pytest
import torch

from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Instances
from detectron2.utils.events import EventStorage

from conditional_detr import ConditionalDETR, add_conditional_detr_config
from projects.data import DetrDatasetMapper
from projects.solver import build_detr_optimizer

# ResNet-50 layout with 1/8 widths (res5: 256 channels), a 32-wide transformer, random init.
TINY_OVERRIDES = [
    "MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu",
    "MODEL.RESNETS.STEM_OUT_CHANNELS", "8", "MODEL.RESNETS.RES2_OUT_CHANNELS", "32",
    "MODEL.RESNETS.WIDTH_PER_GROUP", "8",
    "MODEL.DETR.NUM_CLASSES", "4", "MODEL.DETR.HIDDEN_DIM", "32", "MODEL.DETR.NHEADS", "4",
    "MODEL.DETR.ENC_LAYERS", "1", "MODEL.DETR.DEC_LAYERS", "2", "MODEL.DETR.DIM_FEEDFORWARD", "64",
    "MODEL.DETR.NUM_OBJECT_QUERIES", "12", "MODEL.DETR.NUM_TOPK_TEST", "20",
    "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "192",
    "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "192",
]
CONFIGS = {"r50": ("configs/conditional_detr/conditional_detr_r50_50ep.yaml", 32),
           "dc5_r50": ("configs/conditional_detr/conditional_detr_dc5_r50_50ep.yaml", 16)}
EMPTY_INDEX = 7  # the embedded dataset's image without objects


def tiny_cfg(config_file):
    cfg = get_cfg()
    add_conditional_detr_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(TINY_OVERRIDES)
    return cfg


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_train_steps_then_inference(variant, embedded_small):
    config_file, stride = CONFIGS[variant]
    cfg = tiny_cfg(config_file)
    torch.manual_seed(0)
    model = build_model(cfg)
    assert isinstance(model, ConditionalDETR) and model.backbone.strides == [stride]
    optimizer = build_detr_optimizer(cfg, model)
    train_mapper = DetrDatasetMapper(cfg, is_train=True)
    batch = [train_mapper(embedded_small["train"][0]), train_mapper(embedded_small["train"][EMPTY_INDEX])]
    assert len(batch[0]["instances"]) > 0 and len(batch[1]["instances"]) == 0

    model.train()
    with EventStorage():
        for _ in range(3):
            losses = model(batch)
            assert {"loss_ce", "loss_bbox", "loss_giou", "loss_ce_0", "loss_bbox_0", "loss_giou_0"} == set(losses)
            assert all(math.isfinite(value.item()) for value in losses.values()), losses
            optimizer.zero_grad()
            sum(losses.values()).backward()
            assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
            optimizer.step()

    model.eval()
    item = DetrDatasetMapper(cfg, is_train=False)(embedded_small["val"][0])
    with torch.no_grad():
        (result,) = model([item])
    instances = result["instances"]
    assert isinstance(instances, Instances)
    assert instances.image_size == (item["height"], item["width"])  # rescaled to the original image
    assert 0 < len(instances) <= 20
    assert ((instances.scores >= 0) & (instances.scores <= 1)).all()
    assert ((instances.pred_classes >= 0) & (instances.pred_classes < 4)).all()
    assert torch.isfinite(instances.pred_boxes.tensor).all()

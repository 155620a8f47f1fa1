"""Every variant trains a few iterations on the embedded dataset and runs inference to Instances.

Models come from the quickstart configs with tiny overrides (1 encoder / 2 decoder layers, hidden 64,
small images) so that each variant takes a few seconds on a CPU.
"""
import pytest
import torch

from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Instances
from detectron2.utils.events import EventStorage

from deformable_detr import add_deformable_detr_config
from projects.data import DetrDatasetMapper
from projects.solver import build_detr_optimizer

QUICKSTART = {
    "single_scale": "configs/quickstart/deformable_detr_single_scale_embedded.yaml",
    "multi_scale": "configs/quickstart/deformable_detr_embedded.yaml",
    "box_refine": "configs/quickstart/deformable_detr_refine_embedded.yaml",
    "two_stage": "configs/quickstart/deformable_detr_two_stage_embedded.yaml",
}
ITERATIONS = 2


def tiny_quickstart_cfg(variant):
    cfg = get_cfg()
    add_deformable_detr_config(cfg)
    cfg.merge_from_file(QUICKSTART[variant])
    cfg.merge_from_list([
        "MODEL.DETR.HIDDEN_DIM", 64, "MODEL.DETR.ENC_LAYERS", 1, "MODEL.DETR.DEC_LAYERS", 2,
        "MODEL.DETR.DIM_FEEDFORWARD", 64, "MODEL.DETR.NUM_OBJECT_QUERIES", 10,
        "INPUT.MIN_SIZE_TRAIN", (128,), "INPUT.MAX_SIZE_TRAIN", 160,
        "INPUT.MIN_SIZE_TEST", 128, "INPUT.MAX_SIZE_TEST", 160,
    ])
    return cfg


@pytest.mark.parametrize("variant", list(QUICKSTART))
def test_trains_and_predicts(variant, embedded_train_records):
    torch.manual_seed(0)
    cfg = tiny_quickstart_cfg(variant)
    model = build_model(cfg)
    optimizer = build_detr_optimizer(cfg, model)
    batch = [DetrDatasetMapper(cfg, is_train=True)(record) for record in embedded_train_records]
    assert len(batch[0]["instances"]) > 0 and len(batch[1]["instances"]) == 0
    watched = model.transformer.encoder.layers[0].self_attn.sampling_offsets.weight
    before = watched.detach().clone()
    model.train()
    with EventStorage():
        for _ in range(ITERATIONS):
            losses = model(batch)
            expected_enc = {"loss_ce_enc", "loss_bbox_enc", "loss_giou_enc"} if variant == "two_stage" else set()
            assert expected_enc <= set(losses) and {"loss_ce", "loss_bbox", "loss_giou", "loss_ce_0"} <= set(losses)
            assert all(torch.isfinite(v) for v in losses.values()), losses
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
    assert not torch.equal(before, watched.detach())  # the deformable attention learns

    model.eval()
    inputs = [DetrDatasetMapper(cfg, is_train=False)(record) for record in embedded_train_records]
    with torch.no_grad():
        outputs = model(inputs)
    for output, record in zip(outputs, embedded_train_records):
        instances = output["instances"]
        assert isinstance(instances, Instances)
        assert instances.image_size == (record["height"], record["width"])
        detr = cfg.MODEL.DETR  # top-k over (query, class) pairs
        assert len(instances) == min(detr.NUM_TOPK_TEST, detr.NUM_OBJECT_QUERIES * detr.NUM_CLASSES)
        assert int(instances.pred_classes.max()) < cfg.MODEL.DETR.NUM_CLASSES
        assert torch.isfinite(instances.pred_boxes.tensor).all() and ((instances.scores >= 0) & (instances.scores <= 1)).all()

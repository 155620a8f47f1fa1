"""End to end on real photographs: a few training steps of a DETR-family model (and Detectron2's Faster R-CNN
peer) on NEON tree-crown tiles from the ImageNet EfficientNet-Lite0 trunk, then inference on a validation tile."""
import pytest
import torch

from detectron2.data.datasets import load_coco_json
from detectron2.modeling import build_model
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import EventStorage

from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.data import DetrDatasetMapper
from projects.data.tree_crowns import annotation_file, ensure_tree_crowns
from projects.engine.solver import build_detr_optimizer
from projects.modeling.efficientnet.weights import imagenet_weights
from projects.pretrain.path_handler import register_embedded_trunk_handler
from tests.harness.e2e_harness import eval_inputs, infer
from tests.harness.e2e_utils import tiny_cfg

STEPS = 3
REAL = ["MODEL.WEIGHTS", "imagenet-efficientnet://lite0.pkl", "MODEL.DETR.NUM_CLASSES", 1,
        "MODEL.DETR.NUM_OBJECT_QUERIES", 40, "INPUT.MIN_SIZE_TRAIN", (192,), "INPUT.MAX_SIZE_TRAIN", 192,
        "INPUT.MIN_SIZE_TEST", 192, "INPUT.MAX_SIZE_TEST", 192]


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    """Two training tiles with crowns and one validation tile (records of Detectron2's COCO loader)."""
    root = ensure_tree_crowns(tmp_path_factory.mktemp("datasets") / "tree_crowns")
    train = load_coco_json(str(annotation_file(root, "train")), str(root / "train"), "tree_crowns_train")
    val = load_coco_json(str(annotation_file(root, "val")), str(root / "val"), "tree_crowns_val")
    return train[:2], val[:1]


def _train(cfg, records):
    seed_all_rng(0)
    model = build_model(cfg)
    DetrCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    optimizer = build_detr_optimizer(cfg, model)
    mapper = DetrDatasetMapper(cfg, is_train=True)
    batch = [mapper(dict(record)) for record in records]
    assert all(len(item["instances"]) > 0 for item in batch)  # real crowns reach the model
    totals = []
    model.train()
    with EventStorage():
        for _ in range(STEPS):
            losses = model(batch)
            total = sum(losses.values())
            assert torch.isfinite(total), losses
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            totals.append(float(total.detach()))
    return model, totals


@pytest.mark.parametrize("config, extra", [
    ("configs/tree_crowns/deformable_detr_two_stage.yaml", []),
    ("configs/tree_crowns/faster_rcnn.yaml", ["MODEL.RPN.POST_NMS_TOPK_TRAIN", 200, "MODEL.RPN.POST_NMS_TOPK_TEST", 100,
                                            "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0]),
])
def test_few_steps_on_real_tiles_from_the_imagenet_trunk(tmp_path, monkeypatch, tiles, config, extra):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))  # the renamed trunk file is cached there
    register_embedded_trunk_handler()
    cfg = tiny_cfg(config, tmp_path / "out", extra=REAL + extra)
    train, val = tiles
    model, totals = _train(cfg, train)
    trunk = dict(model.backbone.named_parameters())
    stem = next(v for k, v in trunk.items() if k.endswith("stem.weight"))
    # FREEZE_AT 2: the stem is still exactly the ImageNet copy after the steps
    assert torch.equal(stem.detach(), imagenet_weights("lite0")["stem.weight"])
    assert len(totals) == STEPS
    (instances,) = infer(model, eval_inputs(cfg, val))
    assert instances.image_size == (val[0]["height"], val[0]["width"])
    boxes = instances.pred_boxes.tensor
    assert len(instances) > 0 and torch.isfinite(boxes).all()
    assert (boxes[:, 2] <= val[0]["width"] + 1e-4).all() and (boxes[:, 3] <= val[0]["height"] + 1e-4).all()

"""Evaluation does not depend on the test batch (MODEL.DETR.INFERENCE_UNPADDED, on by default).

For every method, a tiny model trained a few iterations on the embedded dataset detects on four
images of different sizes (two of them the same size, so that a same-size group is batched) once
image by image and once as one batch of four. With the switch on the detections must agree; with
it off (one padded batch, the official behaviour) they must not, which shows the check can fail.

Tolerances: 1e-4 on scores (float32 model outputs, as for every model-output test here); 1e-2 px on
boxes (the same relative error on coordinates of up to ~160 px). Same-size images run together
and alone, so float results may differ in the last bits, never more.
"""
from pathlib import Path

import pytest
import torch

from detectron2.data.datasets import load_coco_json
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from projects.config import load_config
from projects.data import DetrDatasetMapper, ensure_embedded_dataset
from projects.data.embedded_dataset import annotation_file, image_folder
from projects.engine.solver import build_detr_optimizer

SCORE_ATOL = 1e-4
BOX_ATOL = 1e-2
QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart"
METHODS = ["detr", "deformable_detr_single_scale", "deformable_detr", "deformable_detr_refine",
           "deformable_detr_two_stage", "conditional_detr", "smca_single_scale", "smca_multi_scale"]
TINY = ["MODEL.DETR.HIDDEN_DIM", 32, "MODEL.DETR.NHEADS", 4, "MODEL.DETR.DIM_FEEDFORWARD", 64,
        "MODEL.DETR.DEC_LAYERS", 2, "MODEL.DETR.NUM_OBJECT_QUERIES", 10,
        "MODEL.DETR.NUM_TOPK_TEST", 20, "INPUT.MIN_SIZE_TRAIN", (128,), "INPUT.MAX_SIZE_TRAIN", 160,
        "INPUT.MIN_SIZE_TEST", 128, "INPUT.MAX_SIZE_TEST", 160]
# (h, w) crops of the test images: padding to 160 x 160 covers up to 3/4 of an image
CROPS = [(128, 160), (64, 96), (128, 160), (160, 80)]


@pytest.fixture(scope="module")
def dataset_dicts(tmp_path_factory):
    root = ensure_embedded_dataset(tmp_path_factory.mktemp("batch_eval") / "embedded_shapes",
                                   num_train=6, num_val=1)
    return load_coco_json(str(annotation_file(root, "train")), str(image_folder(root, "train")))


def tiny_cfg(method):
    """The method's quickstart config with a narrower transformer and smaller images."""
    return load_config(str(QUICKSTART / f"{method}_embedded.yaml"), TINY)


def trained_model(cfg, dataset_dicts):
    """The tiny model after 3 optimiser steps on two training images, in eval mode."""
    torch.manual_seed(0)
    model = build_model(cfg)
    optimizer = build_detr_optimizer(cfg, model)
    batch = [DetrDatasetMapper(cfg, is_train=True)(d) for d in dataset_dicts[:2]]
    model.train()
    with EventStorage():
        for _ in range(3):
            losses = model(batch)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
    return model.eval()


def cropped_inputs(cfg, dataset_dicts):
    """Four images (raw pixels, every side >= 160) cropped to CROPS; no "height"/"width", so the
    results stay in the crop's frame."""
    inputs = []
    for raw, (h, w) in zip(dataset_dicts[2:], CROPS):
        pixels = read_image(raw["file_name"], format=cfg.INPUT.FORMAT)[:h, :w]
        inputs.append({"image": torch.as_tensor(pixels.transpose(2, 0, 1).copy()).float()})
    return inputs


def detections(model, inputs, batch_size):
    """[(scores [K], labels [K], boxes [K, 4])] per input, run ``batch_size`` inputs at a time."""
    found = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            for result in model(inputs[start:start + batch_size]):
                instances = result["instances"]
                found.append((instances.scores, instances.pred_classes, instances.pred_boxes.tensor))
    return found


def assert_same(found, expected):
    for (scores, labels, boxes), (scores_1, labels_1, boxes_1) in zip(found, expected):
        assert torch.equal(labels, labels_1)
        torch.testing.assert_close(scores, scores_1, atol=SCORE_ATOL, rtol=0)
        torch.testing.assert_close(boxes, boxes_1, atol=BOX_ATOL, rtol=0)


def largest_difference(found, expected):
    """The largest score or box difference (in units of the tolerances) between two runs."""
    worst = 0.0
    for (scores, _, boxes), (scores_1, _, boxes_1) in zip(found, expected):
        worst = max(worst, float((scores - scores_1).abs().max()) / SCORE_ATOL,
                    float((boxes - boxes_1).abs().max()) / BOX_ATOL)
    return worst


@pytest.mark.parametrize("method", METHODS)
def test_detections_do_not_depend_on_the_test_batch(method, dataset_dicts):
    cfg = tiny_cfg(method)
    assert cfg.MODEL.DETR.INFERENCE_UNPADDED  # the default
    model = trained_model(cfg, dataset_dicts)
    inputs = cropped_inputs(cfg, dataset_dicts)
    alone = detections(model, inputs, batch_size=1)
    assert_same(detections(model, inputs, batch_size=4), alone)

    model.inference_unpadded = False  # one padded batch, as the official code
    assert_same(detections(model, inputs, batch_size=1), alone)  # a batch of one has no padding
    padded = detections(model, inputs, batch_size=4)
    assert largest_difference(padded, alone) > 10, "padding left the detections unchanged"

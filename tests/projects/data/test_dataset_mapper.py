"""DetrDatasetMapper: box bookkeeping under flip and crop, clean-up of bad boxes, config paths."""
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.data import transforms as T
from detectron2.data.datasets import load_coco_json
from detectron2.structures import BoxMode

from projects.data import DetrDatasetMapper, add_detr_data_config, register_embedded_dataset
from projects.data.dataset_mapper import logger as mapper_logger
from projects.data.embedded_dataset import annotation_file, image_folder
from tests.harness.dataset_utils import SMALL_NUM_TRAIN, SMALL_NUM_VAL

HEIGHT, WIDTH = 80, 100


@pytest.fixture
def image_file(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    path = tmp_path / "image.png"
    Image.fromarray(pixels).save(path)
    return str(path), pixels


def _record(file_name, boxes_xywh, classes=None, iscrowd=None):
    classes = classes or [i % 3 for i in range(len(boxes_xywh))]
    iscrowd = iscrowd or [0] * len(boxes_xywh)
    annotations = [{"bbox": list(b), "bbox_mode": BoxMode.XYWH_ABS, "category_id": c, "iscrowd": k}
                   for b, c, k in zip(boxes_xywh, classes, iscrowd)]
    return {"file_name": file_name, "height": HEIGHT, "width": WIDTH, "image_id": 1, "annotations": annotations}


def _mapper(augmentations, is_train=True):
    return DetrDatasetMapper(is_train, augmentations=augmentations, image_format="RGB")


def _detr_cfg(**input_overrides):
    cfg = get_cfg()
    add_detr_data_config(cfg)
    cfg.INPUT.MIN_SIZE_TRAIN = (128, 160, 192)
    cfg.INPUT.MAX_SIZE_TRAIN = 320
    cfg.INPUT.DETR_CROP.PRE_RESIZE = (160, 200)
    cfg.INPUT.DETR_CROP.SIZE = (96, 150)
    for key, value in input_overrides.items():
        setattr(cfg.INPUT.DETR_CROP, key, value)
    return cfg


def test_flip_mirrors_image_and_boxes(image_file):
    file_name, pixels = image_file
    out = _mapper([T.RandomFlip(prob=1.0)])(_record(file_name, [[10, 20, 30, 15]], classes=[2]))
    assert torch.equal(out["image"], torch.from_numpy(pixels[:, ::-1].transpose(2, 0, 1).copy()))
    # x0' = W - x1 = 100 - 40, x1' = W - x0 = 100 - 10; exact in float32 (integers)
    assert out["instances"].gt_boxes.tensor.tolist() == [[60.0, 20.0, 90.0, 35.0]]
    assert out["instances"].gt_classes.tolist() == [2]
    assert out["instances"].image_size == (HEIGHT, WIDTH)


def test_crop_keeps_boxes_inside_and_drops_cut_away_ones_silently(image_file, caplog):
    file_name, pixels = image_file
    crop = T.CropTransform(x0=20, y0=10, w=50, h=40)  # crop window x in [20, 70], y in [10, 50]
    boxes = [[30, 20, 10, 10],   # inside -> shifted by (-20, -10)
             [60, 40, 30, 30],   # crosses the crop corner -> clipped
             [75, 55, 10, 10]]   # outside the crop -> dropped (augmentation, not an error)
    with caplog.at_level(logging.WARNING, logger=mapper_logger.name):
        out = _mapper([crop])(_record(file_name, boxes, classes=[0, 1, 2]))
    assert out["image"].shape == (3, 40, 50)
    assert torch.equal(out["image"], torch.from_numpy(pixels[10:50, 20:70].transpose(2, 0, 1).copy()))
    # integer shifts and clips of integer boxes: exact in float32
    assert out["instances"].gt_boxes.tensor.tolist() == [[10.0, 10.0, 20.0, 20.0], [40.0, 30.0, 50.0, 40.0]]
    assert out["instances"].gt_classes.tolist() == [0, 1]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_bad_boxes_are_clipped_or_dropped_with_one_warning_per_file(image_file, caplog):
    file_name, _ = image_file
    boxes = [[90, 70, 30, 30],    # partly outside -> clipped to [90, 70, 100, 80]
             [10, 10, 0, 5],      # zero width -> dropped
             [120, 10, 5, 5],     # right of the image -> dropped
             [10, 10, -4, 5],     # negative width -> dropped
             [5, 5, 10, 10]]      # crowd -> dropped, not an error
    record = _record(file_name, boxes, classes=[1, 2, 2, 2, 0], iscrowd=[0, 0, 0, 0, 1])
    mapper = _mapper([])
    with caplog.at_level(logging.WARNING, logger=mapper_logger.name):
        out = mapper(record)
        mapper(record)
    assert out["instances"].gt_boxes.tensor.tolist() == [[90.0, 70.0, 100.0, 80.0]]  # integer clip: exact
    assert out["instances"].gt_classes.tolist() == [1]
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1  # rate-limited: once per image file
    assert file_name in caplog.text and "dropped 3 of 4 boxes" in caplog.text


def test_image_without_annotations_gives_empty_instances(image_file):
    file_name, _ = image_file
    mapper = _mapper([T.RandomFlip(prob=1.0)])
    record = _record(file_name, [])
    no_key = {k: v for k, v in record.items() if k != "annotations"}
    for out in (mapper(record), mapper(no_key)):
        instances = out["instances"]
        assert len(instances) == 0 and instances.image_size == (HEIGHT, WIDTH)
        assert instances.gt_boxes.tensor.shape == (0, 4)
        assert instances.gt_classes.shape == (0,) and instances.gt_classes.dtype == torch.int64


def test_train_path_from_config_on_embedded_dataset(small_embedded_root, isolated_registration):
    register_embedded_dataset(small_embedded_root, num_train=SMALL_NUM_TRAIN, num_val=SMALL_NUM_VAL)
    records = DatasetCatalog.get(isolated_registration[0])
    cfg = _detr_cfg()
    mapper = DetrDatasetMapper(cfg, is_train=True)
    np.random.seed(0)
    num_empty = 0
    for record in records * 3:
        out = mapper(record)
        _, height, width = out["image"].shape
        assert out["image"].dtype == torch.uint8
        assert (out["height"], out["width"]) == (record["height"], record["width"])
        assert min(height, width) in cfg.INPUT.MIN_SIZE_TRAIN or max(height, width) == cfg.INPUT.MAX_SIZE_TRAIN
        boxes = out["instances"].gt_boxes.tensor
        assert out["instances"].image_size == (height, width)
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert (boxes >= 0).all() and (boxes[:, 0::2] <= width).all() and (boxes[:, 1::2] <= height).all()
        assert set(out["instances"].gt_classes.tolist()) <= {0, 1, 2, 3}
        num_empty += len(record["annotations"]) == 0
        assert len(out["instances"]) <= len(record["annotations"])
    assert num_empty >= 3


def test_without_crop_no_box_is_lost(small_embedded_root):
    root = small_embedded_root
    records = load_coco_json(str(annotation_file(root, "val")), str(image_folder(root, "val")))
    mapper = DetrDatasetMapper(_detr_cfg(ENABLED=False), is_train=True)
    for record in records:
        out = mapper(record)
        scale = out["image"].shape[2] / record["width"]
        expected = torch.tensor([BoxMode.convert(a["bbox"], BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
                                 for a in record["annotations"]], dtype=torch.float32).reshape(-1, 4)
        widths = out["instances"].gt_boxes.tensor[:, 2] - out["instances"].gt_boxes.tensor[:, 0]
        # flip and resize keep every box; its width scales with the image (0.5 px: resize rounding)
        assert torch.allclose(widths, (expected[:, 2] - expected[:, 0]) * scale, atol=0.5)


def test_crop_branch_changes_aspect_ratio_only_when_enabled(tmp_path):
    path = tmp_path / "square.png"
    Image.fromarray(np.zeros((256, 256, 3), dtype=np.uint8)).save(path)
    record = {"file_name": str(path), "height": 256, "width": 256, "image_id": 1,
              "annotations": [{"bbox": [0, 0, 256, 256], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0}]}
    np.random.seed(0)
    always_crop = DetrDatasetMapper(_detr_cfg(PROB=1.0), is_train=True)
    never_crop = DetrDatasetMapper(_detr_cfg(ENABLED=False), is_train=True)
    cropped = [always_crop(record) for _ in range(10)]
    assert any(out["image"].shape[1] != out["image"].shape[2] for out in cropped)
    for out in cropped:  # the whole-image box becomes the cropped, resized image
        _, height, width = out["image"].shape
        # crop shift and resize scale in float64: pixel coordinates up to rounding
        torch.testing.assert_close(out["instances"].gt_boxes.tensor, torch.tensor([[0.0, 0.0, width, height]]),
                                   atol=1e-3, rtol=0)
    for out in (never_crop(record) for _ in range(5)):
        assert out["image"].shape[1] == out["image"].shape[2]


def test_inference_resizes_and_drops_annotations(image_file):
    file_name, _ = image_file
    cfg = _detr_cfg()
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 40, 1000
    out = DetrDatasetMapper(cfg, is_train=False)(_record(file_name, [[10, 20, 30, 15]]))
    assert out["image"].shape == (3, 40, 50)
    assert "annotations" not in out and "instances" not in out
    assert (out["height"], out["width"]) == (HEIGHT, WIDTH)


def test_add_detr_data_config_defaults_and_idempotence():
    cfg = get_cfg()
    add_detr_data_config(cfg)
    cfg.INPUT.DETR_CROP.PROB = 0.3
    add_detr_data_config(cfg)  # a second call (another method's config) keeps user values
    assert cfg.INPUT.DETR_CROP.PROB == 0.3
    assert tuple(cfg.INPUT.DETR_CROP.PRE_RESIZE) == (400, 500, 600)
    assert tuple(cfg.INPUT.DETR_CROP.SIZE) == (384, 600) and cfg.INPUT.DETR_CROP.TYPE == "absolute_range"
    assert cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS is False

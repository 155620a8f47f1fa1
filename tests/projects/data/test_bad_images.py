"""Unreadable, missing and wrongly sized images are found before training and named; the
BAD_IMAGE_POLICY decides between stopping and skipping (issue 10, item 1)."""
import json
import logging
import shutil

import numpy as np
import pytest
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.utils.events import EventStorage

from projects.data import DetrDatasetMapper, ensure_embedded_dataset
from projects.data.dataset_mapper import SKIPPED_KEY
from projects.data.embedded_dataset import annotation_file, image_folder
from projects.data.image_checks import BadImageError, find_bad_images
from projects.data.skip_counter import METRIC, SkippedImageCounter
from projects.engine.trainer import Trainer

from tests.harness.fast_config import fast_cfg

NUM_IMAGES = 6


def _corrupt_png(path, width, height):
    """A PNG of the right size whose pixel data is damaged (its end marker intact)."""
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 100
    data[start:start + 100] = bytes(b ^ 0xFF for b in data[start:start + 100])
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def bad_dataset(tmp_path_factory):
    """A COCO dataset of NUM_IMAGES embedded images: 000001 truncated, 000002 missing, 000003 annotated
    one pixel too wide, 000004 a PNG with damaged pixel data; yields (name, {problem: path})."""
    source = ensure_embedded_dataset(tmp_path_factory.mktemp("embedded") / "embedded_shapes", num_train=8, num_val=2)
    root = tmp_path_factory.mktemp("bad_images")
    coco = json.loads(annotation_file(source, "train").read_text())
    coco["images"] = coco["images"][:NUM_IMAGES]
    for image in coco["images"]:
        shutil.copy(image_folder(source, "train") / image["file_name"], root / image["file_name"])
    truncated, missing, wide, png = (root / coco["images"][i]["file_name"] for i in (1, 2, 3, 4))
    truncated.write_bytes(truncated.read_bytes()[:4000])
    missing.unlink()
    coco["images"][3]["width"] += 1
    png.unlink()
    coco["images"][4]["file_name"] = png.with_suffix(".png").name
    _corrupt_png(png.with_suffix(".png"), coco["images"][4]["width"], coco["images"][4]["height"])
    (root / "instances.json").write_text(json.dumps(coco))
    name = "reliability_bad_images"
    register_coco_instances(name, {}, str(root / "instances.json"), str(root))
    yield name, {"truncated": str(truncated), "missing": str(missing), "wide": str(wide),
                 "png": str(png.with_suffix(".png"))}
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _problems(bad):
    return {item.file_name: item.problem for item in bad}


def test_header_check_names_missing_truncated_and_mismatched_images(bad_dataset):
    name, files = bad_dataset
    found = _problems(find_bad_images(DatasetCatalog.get(name)))
    assert set(found) == {files["truncated"], files["missing"], files["wide"]}
    assert found[files["missing"]] == "missing"
    assert "image file is truncated" in found[files["truncated"]]
    assert found[files["wide"]].endswith("but the annotations say {}x{}".format(*_annotated_size(name, files["wide"])))


def _annotated_size(name, file_name):
    record = next(r for r in DatasetCatalog.get(name) if r["file_name"] == file_name)
    return record["width"], record["height"]


def test_decode_check_also_finds_damaged_pixel_data(bad_dataset):
    name, files = bad_dataset
    found = _problems(find_bad_images(DatasetCatalog.get(name), decode=True))
    assert set(found) == set(files.values())
    assert "broken data stream" in found[files["png"]]


def test_error_policy_stops_before_training_listing_every_file(bad_dataset, tmp_path):
    name, files = bad_dataset
    cfg = fast_cfg(tmp_path, extra=["DATASETS.TRAIN", (name,), "DATALOADER.IMAGE_CHECK", "decode"])
    with pytest.raises(BadImageError, match=f"4 of {NUM_IMAGES} images of DATASETS.TRAIN") as info:
        Trainer(cfg)
    assert all(path in str(info.value) for path in files.values())


def test_skip_policy_trains_without_them_and_counts_them(bad_dataset, tmp_path, caplog):
    name, files = bad_dataset
    cfg = fast_cfg(tmp_path, extra=["DATASETS.TRAIN", (name,), "DATALOADER.BAD_IMAGE_POLICY", "skip",
                                    "SOLVER.MAX_ITER", 2])
    with caplog.at_level(logging.WARNING, logger="projects.data.image_checks"):
        trainer = Trainer(cfg)
    assert all(files[k] in caplog.text for k in ("truncated", "missing", "wide"))
    trainer.train()
    assert trainer.storage.history(METRIC).latest() == 3


def _records(bad_dataset):
    name, files = bad_dataset
    by_file = {r["file_name"]: r for r in DatasetCatalog.get(name)}
    good = next(r for f, r in by_file.items() if f not in files.values())
    return by_file[files["truncated"]], good


def test_an_image_failing_during_training_is_named(bad_dataset):
    truncated, _ = _records(bad_dataset)
    mapper = DetrDatasetMapper(True, augmentations=[], image_format="RGB")
    with pytest.raises(BadImageError, match=f"{truncated['file_name']}: cannot use this image.*truncated"):
        mapper(truncated)


def test_an_image_skipped_during_training_is_counted(bad_dataset):
    truncated, good = _records(bad_dataset)
    mapper = DetrDatasetMapper(True, augmentations=[], image_format="RGB", bad_image_policy="skip")
    assert mapper(truncated) is None
    batch = [mapper(good)]
    assert batch[0][SKIPPED_KEY] == [truncated["file_name"]]
    with EventStorage() as storage:
        assert list(SkippedImageCounter([batch], skipped_up_front=2)) == [batch]
    assert storage.history(METRIC).latest() == 3 and SKIPPED_KEY not in batch[0]


def test_evaluation_boxes_outside_the_image_are_warned(bad_dataset, caplog):
    _, good = _records(bad_dataset)
    record = dict(good, annotations=[dict(good["annotations"][0], bbox=[good["width"] - 5, 2, 40, 10])])
    mapper = DetrDatasetMapper(False, augmentations=[], image_format="RGB")
    with caplog.at_level(logging.WARNING, logger="projects.data.dataset_mapper"):
        mapper(record)
    assert f"{good['file_name']}: dropped 0 of 1 boxes" in caplog.text and "clipped 1" in caplog.text
    assert "evaluation scores against the annotation file's boxes" in caplog.text

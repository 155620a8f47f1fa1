"""The embedded dataset: deterministic, cached, atomic, loadable through Detectron2's COCO loader."""
import json

import numpy as np
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from projects.data import EMBEDDED_CLASS_NAMES, ensure_embedded_dataset, register_embedded_dataset
from projects.data import embedded_dataset, shape_renderer
from tests.harness.dataset_utils import SMALL_NUM_TRAIN, SMALL_NUM_VAL


def _file_stamps(root):
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_same_files(tmp_path):
    for name in ("a", "b"):
        embedded_dataset.write_split(tmp_path / name, "train", 6, seed=3)
    json_a = (tmp_path / "a/annotations/instances_train.json").read_bytes()
    assert json_a == (tmp_path / "b/annotations/instances_train.json").read_bytes()
    for image in sorted((tmp_path / "a/train").iterdir()):
        assert image.read_bytes() == (tmp_path / "b/train" / image.name).read_bytes()

    embedded_dataset.write_split(tmp_path / "c", "train", 6, seed=4)
    assert json_a != (tmp_path / "c/annotations/instances_train.json").read_bytes()


def test_cache_is_reused_not_rewritten(tmp_path):
    root = tmp_path / "shapes"
    assert ensure_embedded_dataset(root, num_train=5, num_val=2) == root
    before = _file_stamps(root)
    assert len(before) == 5 + 2 + 3  # images, two json files, manifest
    ensure_embedded_dataset(root, num_train=5, num_val=2)
    assert _file_stamps(root) == before
    assert [p.name for p in tmp_path.iterdir()] == ["shapes"]  # no temp folder left behind


def test_changed_or_incomplete_cache_is_regenerated(tmp_path):
    root = tmp_path / "shapes"
    ensure_embedded_dataset(root, num_train=5, num_val=2)
    ensure_embedded_dataset(root, num_train=7, num_val=2)
    assert len(list((root / "train").iterdir())) == 7
    assert json.loads((root / "MANIFEST.json").read_text())["num_train"] == 7

    (root / "val" / "000001.jpg").unlink()
    ensure_embedded_dataset(root, num_train=7, num_val=2)
    assert (root / "val" / "000001.jpg").is_file()


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    written = []

    def fail_on_second_split(root, split, num_images, seed):
        if written:
            raise KeyboardInterrupt
        written.append(split)
        original_write_split(root, split, num_images, seed)

    original_write_split = embedded_dataset.write_split
    monkeypatch.setattr(embedded_dataset, "write_split", fail_on_second_split)
    with pytest.raises(KeyboardInterrupt):
        ensure_embedded_dataset(tmp_path / "shapes", num_train=3, num_val=2)
    assert written == ["train"]
    assert list(tmp_path.iterdir()) == []


def test_foreign_folder_is_not_overwritten(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=str(tmp_path)):
        ensure_embedded_dataset(tmp_path, num_train=2, num_val=1)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_registered_splits_load_through_detectron2(small_embedded_root, isolated_registration):
    train_name, val_name = isolated_registration
    assert register_embedded_dataset(small_embedded_root, num_train=SMALL_NUM_TRAIN,
                                     num_val=SMALL_NUM_VAL) == small_embedded_root
    train, val = DatasetCatalog.get(train_name), DatasetCatalog.get(val_name)
    assert (len(train), len(val)) == (SMALL_NUM_TRAIN, SMALL_NUM_VAL)
    assert MetadataCatalog.get(train_name).thing_classes == list(EMBEDDED_CLASS_NAMES)
    assert MetadataCatalog.get(val_name).evaluator_type == "coco"
    coco = json.loads((small_embedded_root / "annotations/instances_train.json").read_text())
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3, 4]

    annotations = [a for record in train for a in record["annotations"]]
    assert any(len(record["annotations"]) == 0 for record in train)
    assert {a["category_id"] for a in annotations} == {0, 1, 2, 3}  # contiguous ids after loading
    areas = np.array([a["bbox"][2] * a["bbox"][3] for a in annotations])
    assert (areas < 32 * 32).any() and (areas > 64 * 64).any()  # COCO small objects and large ones
    for record in train:
        for a in record["annotations"]:
            x, y, w, h = a["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= record["width"] and y + h <= record["height"]


def test_registration_is_idempotent(small_embedded_root, isolated_registration, tmp_path):
    train_name, _ = isolated_registration
    register_embedded_dataset(small_embedded_root, num_train=SMALL_NUM_TRAIN, num_val=SMALL_NUM_VAL)
    loader = DatasetCatalog[train_name]
    # A second call, even naming another root, keeps the first registration and generates nothing.
    assert register_embedded_dataset(tmp_path / "other", num_train=2, num_val=1) == small_embedded_root
    assert DatasetCatalog[train_name] is loader
    assert not (tmp_path / "other").exists()


def test_boxes_are_tight(monkeypatch):
    """On a black background every drawn pixel lies in a box and every box edge touches a drawn pixel."""
    monkeypatch.setattr(shape_renderer, "_background",
                        lambda rng, h, w: np.zeros((h, w, 3), dtype=np.float32))
    image, objects = shape_renderer.render_image(np.random.default_rng(0), 6)
    assert len(objects) >= 3
    drawn = image.max(axis=2) > 0
    covered = np.zeros_like(drawn)
    for obj in objects:
        x, y, w, h = obj.box_xywh
        inside = drawn[y:y + h, x:x + w]
        covered[y:y + h, x:x + w] = True
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
        assert obj.area == int(inside.sum())
    assert not (drawn & ~covered).any()


def test_default_root_follows_detectron2_datasets(tmp_path, monkeypatch, isolated_registration):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    root = register_embedded_dataset(num_train=2, num_val=1)
    assert root == tmp_path / "embedded_shapes"
    assert MetadataCatalog.get(isolated_registration[1]).image_root == str(root / "val")
    assert len(DatasetCatalog.get(isolated_registration[1])) == 1

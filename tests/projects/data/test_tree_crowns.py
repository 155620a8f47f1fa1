"""The NEON tree crowns: VOC XML on a real file, the tiling rule, the split, caching and registration, and
the bad-input rules (package missing, box outside its image, empty tile, unreadable XML)."""
import contextlib
import csv
import json
import logging

import numpy as np
import pytest
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog

from projects.data import check_dataset_paths, tree_crowns
from projects.data.tiling import VocBox, boxes_in_window, tile_image, tile_starts
from projects.data.tree_crowns import (
    SPLIT_IMAGES,
    TILE_OVERLAP,
    TILE_SIZE,
    TREE_CROWN_DATASET_NAMES,
    MissingDataPackageError,
    annotation_file,
    ensure_tree_crowns,
    register_tree_crowns,
    source_folder,
)
from projects.data.voc_xml import VocError, read_voc


def test_voc_of_a_real_file_agrees_with_the_packages_own_csv():
    voc = read_voc(source_folder() / "OSBS_029.xml")
    with open(source_folder() / "OSBS_029.csv") as f:
        rows = list(csv.DictReader(f))
    expected = sorted((float(r["xmin"]), float(r["ymin"]), float(r["xmax"]), float(r["ymax"]), r["label"]) for r in rows)
    assert (voc.width, voc.height, voc.clipped, voc.dropped) == (400, 400, 0, 0)
    assert sorted(tuple(b) for b in voc.boxes) == expected
    assert Image.open(source_folder() / "OSBS_029.png").size == (voc.width, voc.height)


def _xml(path, width, height, boxes):
    objects = "".join(f"<object><name>Tree</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                      f"<ymax>{b[3]}</ymax></bndbox></object>" for b in boxes)
    path.write_text(f"<annotation><size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
                    f"{objects}</annotation>")
    return path


def test_box_outside_its_image_is_clipped_or_dropped_counted_and_logged(tmp_path, caplog):
    path = _xml(tmp_path / "a.xml", 100, 80, [(10, 10, 20, 20), (90, 70, 130, 95), (120, 10, 140, 30), (30, 30, 30, 40)])
    with caplog.at_level(logging.WARNING, logger="projects.data.voc_xml"):
        voc = read_voc(path)
    assert [tuple(b[:4]) for b in voc.boxes] == [(10, 10, 20, 20), (90, 70, 100, 80)]
    assert (voc.clipped, voc.dropped) == (1, 2)
    assert "1 box(es) clipped" in caplog.text and "2 dropped" in caplog.text


@pytest.mark.parametrize("text, words", [("<annotation><size>", "not a readable VOC XML"),
                                         ("<annotation><size><width>x</width></size></annotation>", "not a number")])
def test_unreadable_xml_is_a_one_line_error(tmp_path, text, words):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(VocError) as error:
        read_voc(path)
    assert words in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)


def test_tiles_cover_the_image_and_end_at_its_edge():
    starts = tile_starts(1035, 400, 80)
    assert starts[0] == 0 and starts[-1] == 1035 - 400
    assert all(b - a <= 400 - 80 for a, b in zip(starts, starts[1:]))  # neighbours share >= the overlap
    assert tile_starts(300, 400, 80) == [0]
    with pytest.raises(ValueError, match="overlap"):
        tile_starts(1000, 400, 400)


def test_border_rule_keeps_a_box_clipped_when_half_of_it_is_inside():
    window = (100, 0, 100, 100)  # x in [100, 200]
    half = VocBox(80, 10, 120, 30, "Tree")       # 20 of 40 px inside: kept, clipped
    less = VocBox(81, 40, 119, 60, "Tree")       # 19 of 38 px inside: exactly half -> kept
    little = VocBox(70, 70, 110, 90, "Tree")     # 10 of 40 px inside: dropped, counted
    outside = VocBox(10, 10, 50, 50, "Tree")     # not touching: neither kept nor counted
    kept, cut = boxes_in_window([half, less, little, outside], window)
    assert [tuple(b[:4]) for b in kept] == [(0, 10, 20, 30), (0, 40, 19, 60)]
    assert cut == 1


def test_with_the_overlap_every_small_crown_is_whole_in_some_tile():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 1000, size=(200, 2))
    sizes = rng.uniform(5, TILE_OVERLAP, size=(200, 2))
    boxes = [VocBox(x, y, min(x + w, 1100), min(y + h, 1050), "Tree") for (x, y), (w, h) in zip(corners, sizes)]
    tiles = tile_image(1100, 1050, boxes, TILE_SIZE, TILE_OVERLAP)
    whole = set()
    for tile in tiles:
        for b in boxes:
            if tile.x0 <= b.x0 and b.x1 <= tile.x0 + tile.width and tile.y0 <= b.y0 and b.y1 <= tile.y0 + tile.height:
                whole.add(b)
    assert whole == set(boxes)


def test_empty_tiles_are_skipped_counted_and_logged(tmp_path, caplog, monkeypatch):
    source = tmp_path / "source"
    source.mkdir()
    Image.fromarray(np.zeros((400, 900, 3), np.uint8)).save(source / "one.png")
    _xml(source / "one.xml", 900, 400, [(10, 10, 40, 40)])  # crowns in the first tile only
    monkeypatch.setitem(SPLIT_IMAGES, "train", ("one",))
    with caplog.at_level(logging.INFO, logger="projects.data.tree_crowns"):
        counts = tree_crowns.write_split(source, tmp_path / "out", "train")
    assert (counts.tiles, counts.empty_tiles, counts.boxes) == (1, 2, 1)
    assert "1 tiles, 2 empty tiles skipped" in caplog.text
    coco = json.loads((tmp_path / "out/annotations/instances_train.json").read_text())
    assert [im["file_name"] for im in coco["images"]] == ["one_0_0.png"]


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(tree_crowns.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MissingDataPackageError) as error:
        source_folder()
    assert "pip install --no-deps deepforest==2.1.0" in str(error.value) and "\n" not in str(error.value)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets") / "tree_crowns"
    return ensure_tree_crowns(root)


def test_splits_share_no_photograph_and_tiles_are_whole(generated):
    names = {}
    for split in SPLIT_IMAGES:
        coco = json.loads((generated / "annotations" / f"instances_{split}.json").read_text())
        names[split] = {im["file_name"].rsplit("_", 2)[0] for im in coco["images"]}
        assert names[split] == set(SPLIT_IMAGES[split])
        for im in coco["images"]:
            assert Image.open(generated / split / im["file_name"]).size == (im["width"], im["height"])
            assert im["width"] <= TILE_SIZE and im["height"] <= TILE_SIZE
        for ann in coco["annotations"]:
            x, y, w, h = ann["bbox"]
            assert w > 0 and h > 0
    assert not names["train"] & names["val"]


def test_generated_once_then_reused(generated):
    stamp = (generated / "MANIFEST.json").stat().st_mtime_ns
    assert ensure_tree_crowns(generated) == generated
    assert (generated / "MANIFEST.json").stat().st_mtime_ns == stamp


@contextlib.contextmanager
def _registered_from(root):
    """tree_crowns_* registered from ``root`` inside the block; the registration before is put back after."""
    saved = {name: (DatasetCatalog[name] if name in DatasetCatalog.list() else None, MetadataCatalog.pop(name, None))
             for name in TREE_CROWN_DATASET_NAMES.values()}
    for name in saved:
        DatasetCatalog.pop(name, None)
    register_tree_crowns(root)
    try:
        yield root
    finally:
        _restore(saved)


def _restore(saved):
    for name, (loader, meta) in saved.items():
        DatasetCatalog.pop(name, None)
        MetadataCatalog.pop(name, None)
        if loader is not None:
            DatasetCatalog.register(name, loader)
        if meta is not None:
            MetadataCatalog.get(name).set(**{k: v for k, v in meta.as_dict().items() if k != "name"})


@pytest.fixture
def registered_from(generated):
    with _registered_from(generated) as root:
        yield root


def test_registered_through_detectron2s_coco_loader(registered_from):
    for split, name in TREE_CROWN_DATASET_NAMES.items():
        meta = MetadataCatalog.get(name)
        assert meta.evaluator_type == "coco" and meta.thing_classes == ["tree"]
        assert meta.json_file == str(registered_from / "annotations" / f"instances_{split}.json")
        records = DatasetCatalog.get(name)
        coco = json.loads((registered_from / "annotations" / f"instances_{split}.json").read_text())
        assert len(records) == len(coco["images"])
        assert sum(len(r["annotations"]) for r in records) == len(coco["annotations"])
        assert {a["category_id"] for r in records for a in r["annotations"]} == {0}
        assert records[0]["file_name"].startswith(str(registered_from / split))


def test_registered_on_import_without_generating_anything():
    for name in TREE_CROWN_DATASET_NAMES.values():
        assert name in DatasetCatalog.list()


def test_first_get_generates_into_a_fresh_root_after_the_path_check_passes(tmp_path):
    root = tmp_path / "tree_crowns"
    with _registered_from(root):
        names = list(TREE_CROWN_DATASET_NAMES.values())
        check_dataset_paths(names)  # nothing to find missing before the first use
        assert not root.exists()
        records = DatasetCatalog.get(TREE_CROWN_DATASET_NAMES["val"])
        assert records and (root / "MANIFEST.json").is_file()
        assert MetadataCatalog.get(TREE_CROWN_DATASET_NAMES["val"]).json_file == str(annotation_file(root, "val"))
        check_dataset_paths(names)

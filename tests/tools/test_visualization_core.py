"""projects/visualization: input listing, output paths, class names, strict weight loading."""
from pathlib import Path

import pytest
import torch

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

from projects.config import load_config
from projects.data import EMBEDDED_CLASS_NAMES
from projects.engine.launch import register_datasets
from projects.visualization import BatchPredictor, ToolInputError, dataset_metadata, list_images, output_file
from tests.tools.tool_utils import DETR_CONFIG, ROOT, TINY_OPTS


def test_list_images_expands_folders_globs_and_files(val_pngs, tmp_path):
    folder = str(Path(val_pngs[0]).parent)
    (Path(folder) / "notes.txt").write_text("not an image")
    assert list_images([folder]) == sorted(val_pngs)
    assert list_images([folder + "/00000[01].png", val_pngs[2]]) == [*sorted(val_pngs[:2]), val_pngs[2]]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToolInputError, match="holds no image"):
        list_images([str(tmp_path / "empty")])
    with pytest.raises(ToolInputError, match="no such image file"):
        list_images([str(tmp_path / "*.png")])


def test_output_file_is_a_folder_entry_or_the_named_file(tmp_path):
    assert output_file(str(tmp_path / "out"), "a/b.jpg", 3) == str(tmp_path / "out" / "b.jpg")
    assert output_file(str(tmp_path / "out"), "a/clip.avi", 1, suffix=".mp4") == str(tmp_path / "out" / "clip.mp4")
    assert output_file(str(tmp_path / "one.png"), "a/b.jpg", 1) == str(tmp_path / "one.png")
    with pytest.raises(ToolInputError, match="give a folder"):
        output_file(str(tmp_path / "one.png"), "a/b.jpg", 2)


def test_class_names_come_from_the_test_dataset():
    coco = load_config(str(ROOT / "configs/detr/detr_r50_300ep.yaml"))
    names = dataset_metadata(coco).thing_classes
    assert names == [c["name"] for c in COCO_CATEGORIES if c["isthing"]] and len(names) == 80
    embedded = load_config(DETR_CONFIG)
    register_datasets(embedded)
    assert dataset_metadata(embedded).thing_classes == list(EMBEDDED_CLASS_NAMES)
    with pytest.raises(ToolInputError, match="NUM_CLASSES is 80 but dataset embedded_shapes_val has 4 classes"):
        dataset_metadata(load_config(DETR_CONFIG, ["MODEL.DETR.NUM_CLASSES", "80"]))


def tiny_cfg(weights):
    return load_config(DETR_CONFIG, [*TINY_OPTS, "MODEL.WEIGHTS", str(weights)])


def test_checkpoint_loads_strictly(detr_checkpoint, tmp_path):
    saved = torch.load(detr_checkpoint, weights_only=True)["model"]
    predictor = BatchPredictor(tiny_cfg(detr_checkpoint))
    for name, value in predictor.model.state_dict().items():
        assert torch.equal(value, saved[name]), name  # copied, not computed: exact
    wrong_shape = {**saved, "class_embed.weight": torch.zeros(3, 32)}
    torch.save({"model": wrong_shape}, tmp_path / "shape.pth")
    heads = r"another class count \(class_embed.weight: checkpoint \(3, 32\) vs model \(5, 32\)\)"
    with pytest.raises(ToolInputError, match=heads):
        BatchPredictor(tiny_cfg(tmp_path / "shape.pth"))
    torch.save({"model": {**saved, "extra.weight": torch.zeros(1)}}, tmp_path / "extra.pth")
    with pytest.raises(ToolInputError, match=r"1 entries the model does not have \(extra.weight\)"):
        BatchPredictor(tiny_cfg(tmp_path / "extra.pth"))
    torch.save({"model": {k: v for k, v in saved.items() if k.startswith("backbone.")}}, tmp_path / "trunk.pth")
    with pytest.raises(ToolInputError, match=r"does not fit the config's DETR: \d+ model entries missing"):
        BatchPredictor(tiny_cfg(tmp_path / "trunk.pth"))  # an ImageNet-style trunk leaves the detector random
    (tmp_path / "corrupt.pth").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ToolInputError, match="corrupt.pth: the checkpoint file is corrupt or truncated"):
        BatchPredictor(tiny_cfg(tmp_path / "corrupt.pth"))

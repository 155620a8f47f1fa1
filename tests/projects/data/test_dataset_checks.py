"""check_dataset_paths names the missing file or folder of a registered COCO dataset."""
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances

from projects.data import check_dataset_paths


@pytest.fixture
def register():
    names = []

    def _register(name, json_file, image_root):
        register_coco_instances(name, {}, str(json_file), str(image_root))
        names.append(name)
    yield _register
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_missing_json_file_is_named(tmp_path, register):
    missing = tmp_path / "annotations" / "instances_missing.json"
    register("check_paths_missing_json", missing, tmp_path)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        check_dataset_paths("check_paths_missing_json")


def test_missing_image_folder_is_named(tmp_path, register):
    json_file = tmp_path / "instances.json"
    json_file.write_text("{}")
    missing = tmp_path / "no_images"
    register("check_paths_missing_images", json_file, missing)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        check_dataset_paths(["check_paths_missing_images"])


def test_existing_paths_pass_and_unknown_names_raise(tmp_path, register):
    json_file = tmp_path / "instances.json"
    json_file.write_text("{}")
    register("check_paths_ok", json_file, tmp_path)
    assert check_dataset_paths(("check_paths_ok",)) is None
    with pytest.raises(KeyError, match="check_paths_not_registered"):
        check_dataset_paths("check_paths_not_registered")

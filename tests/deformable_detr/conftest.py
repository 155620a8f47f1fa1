"""A few mapped dicts of the embedded dataset, generated once per session."""
import pytest

from detectron2.data.datasets import load_coco_json

from projects.data import ensure_embedded_dataset
from projects.data.embedded_dataset import annotation_file, image_folder

NUM_TRAIN, NUM_VAL = 8, 1  # train image 7 has no objects (EMPTY_IMAGE_EVERY)
DATASET_NAME = "deformable_detr_tests_embedded_train"  # metadata name for the contiguous-id mapping


@pytest.fixture(scope="session")
def embedded_train_records(tmp_path_factory):
    """Two raw train records: one with objects, one without."""
    root = ensure_embedded_dataset(tmp_path_factory.mktemp("embedded") / "embedded_shapes",
                                   num_train=NUM_TRAIN, num_val=NUM_VAL)
    records = load_coco_json(str(annotation_file(root, "train")), str(image_folder(root, "train")), DATASET_NAME)
    with_objects = next(r for r in records if r["annotations"])
    without = next(r for r in records if not r["annotations"])
    return [with_objects, without]

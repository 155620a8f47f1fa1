"""tools/score_recall.py: objects found, recall and precision at score thresholds."""
import json

import pytest

from tests.tools.tool_utils import load_tool

score_recall = load_tool("score_recall")


@pytest.fixture()
def val_annotations(embedded_root):
    coco = json.loads((embedded_root / "annotations" / "instances_val.json").read_text())
    return coco["annotations"], sorted(c["id"] for c in coco["categories"])


def write(tmp_path, results):
    path = tmp_path / "coco_instances_results.json"
    path.write_text(json.dumps(results))
    return str(path)


def run(path, *argv):
    return score_recall.main(["--input", path, "--dataset", "embedded_shapes_val", *argv])


def test_counts_follow_the_scores_and_duplicates_do_not_count_twice(val_annotations, tmp_path):
    annotations, category_ids = val_annotations
    results = []
    for index, a in enumerate(annotations):
        score = 0.9 if index % 2 == 0 else 0.4  # every other object confidently found
        results.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": score, "bbox": a["bbox"]})
        # a duplicate of the same box at 0.35: precision falls at 0.3, recall must not rise
        results.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.35, "bbox": a["bbox"]})
        # the right box with the wrong class at 0.8: never finds the object
        wrong = next(c for c in category_ids if c != a["category_id"])
        results.append({"image_id": a["image_id"], "category_id": wrong, "score": 0.8, "bbox": a["bbox"]})
    rows, median_best = run(write(tmp_path, results), "--thresholds", "0.3", "0.5", "0.95")
    confident = len(range(0, len(annotations), 2))
    by_threshold = {row["threshold"]: row for row in rows}
    assert by_threshold[0.5]["found"] == confident
    assert by_threshold[0.5]["detections"] == confident + len(annotations)  # plus every wrong-class box
    assert by_threshold[0.3]["found"] == len(annotations)
    assert by_threshold[0.3]["detections"] == 3 * len(annotations)
    assert by_threshold[0.95]["found"] == 0 and by_threshold[0.95]["detections"] == 0
    assert by_threshold[0.3]["recall"] == pytest.approx(1.0, abs=1e-12)
    assert by_threshold[0.5]["precision"] == pytest.approx(confident / (confident + len(annotations)), abs=1e-12)
    # half the objects' best same-class score is 0.9, the other half's 0.4: the median is one of them
    assert median_best in (pytest.approx(0.9, abs=1e-6), pytest.approx(0.4, abs=1e-6))


def test_a_box_that_misses_finds_nothing(val_annotations, tmp_path):
    annotations, _ = val_annotations
    a = annotations[0]
    x, y, w, h = a["bbox"]
    far = {"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.99, "bbox": [x + 2 * w, y, w, h]}
    rows, median_best = run(write(tmp_path, [far]), "--thresholds", "0.5")
    assert rows[0]["found"] == 0 and rows[0]["detections"] == 1
    assert median_best == pytest.approx(0.0, abs=1e-12)


def test_bad_thresholds_end_with_one_line(val_annotations, tmp_path):
    annotations, _ = val_annotations
    path = write(tmp_path, [{"image_id": annotations[0]["image_id"], "category_id": annotations[0]["category_id"],
                             "score": 0.5, "bbox": annotations[0]["bbox"]}])
    with pytest.raises(SystemExit) as raised:
        run(path, "--thresholds", "1.5")
    assert str(raised.value.code).startswith("error: ") and "[0, 1]" in str(raised.value.code)

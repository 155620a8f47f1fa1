"""tools/visualize_json_results.py: the evaluator's detections (left) beside the ground truth (right)."""
import json

import pytest

from tests.tools.tool_utils import changed_pixels, load_tool, read_rgb

visualize_json_results = load_tool("visualize_json_results")
GAP = 4  # pixels between the two halves (drawing.side_by_side's default)


@pytest.fixture()
def results_file(embedded_root, tmp_path):
    """Detections in the evaluator's format: the val ground truth moved 6 px right, score 0.9."""
    coco = json.loads((embedded_root / "annotations" / "instances_val.json").read_text())
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.9,
                "bbox": [a["bbox"][0] + 6, *a["bbox"][1:]]} for a in coco["annotations"]]
    path = tmp_path / "coco_instances_results.json"
    path.write_text(json.dumps(results))
    return path, results


def run(input_path, output, *argv):
    return visualize_json_results.main(["--input", str(input_path), "--dataset", "embedded_shapes_val",
                                        "--output", str(output), *argv])


def test_predictions_beside_ground_truth(results_file, embedded_root, tmp_path):
    written = run(results_file[0], tmp_path / "out", "--num-images", "2", "--conf-threshold", "0.5")
    assert len(written) == 2
    for index, path in enumerate(written):
        original = read_rgb(embedded_root / "val" / f"{index:06d}.jpg")
        height, width = original.shape[:2]
        drawing = read_rgb(path)
        assert drawing.shape == (height, 2 * width + GAP, 3)
        predicted, truth = drawing[:, :width], drawing[:, width + GAP:]
        assert changed_pixels(predicted, original) > 100 and changed_pixels(truth, original) > 100
        assert changed_pixels(predicted, truth) > 100  # the moved boxes and the scores differ


def test_threshold_above_every_score_leaves_the_left_half_clean(results_file, embedded_root, tmp_path):
    written = run(results_file[0], tmp_path / "out", "--num-images", "1", "--conf-threshold", "0.95")
    original = read_rgb(embedded_root / "val" / "000000.jpg")
    assert changed_pixels(read_rgb(written[0])[:, : original.shape[1]], original) == 0


def one_line_error(*argv):
    with pytest.raises(SystemExit) as raised:
        run(*argv)
    message = str(raised.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


def test_bad_inputs_end_with_one_line(results_file, tmp_path):
    _, results = results_file
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps([{**results[0], "category_id": 99}]))
    not_results = tmp_path / "not_results.json"
    not_results.write_text(json.dumps({"images": []}))
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps([{**results[0], "image_id": 10 ** 6}]))
    assert "cannot read results" in one_line_error(tmp_path / "missing.json", tmp_path)
    assert "not a COCO detection results file" in one_line_error(not_results, tmp_path)
    assert "category ids [99]" in one_line_error(unknown, tmp_path)
    assert "no predicted image id is in dataset embedded_shapes_val" in one_line_error(elsewhere, tmp_path)
    with pytest.raises(SystemExit, match="dataset no_such_dataset is not registered"):
        visualize_json_results.main(["--input", str(results_file[0]), "--dataset", "no_such_dataset",
                                     "--output", str(tmp_path)])

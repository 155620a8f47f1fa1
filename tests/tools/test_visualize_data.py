"""tools/visualize_data.py draws the raw annotations, and exactly what the training loader feeds the model."""
import numpy as np
import pytest

from projects.data import EMBEDDED_CLASS_NAMES
from tests.tools.tool_utils import DETR_CONFIG, TINY_OPTS, changed_pixels, load_tool, read_rgb

visualize_data = load_tool("visualize_data")


def run(source, output, *argv):
    return visualize_data.main(["--config-file", DETR_CONFIG, "--source", source, "--output", str(output),
                                *argv, *TINY_OPTS])


def test_annotations_are_drawn_on_the_original_images(embedded_root, tmp_path):
    written = run("annotation", tmp_path, "--num-images", "2")
    assert [p.split("/")[-1] for p in written] == ["000000.png", "000001.png"]
    for index, path in enumerate(written):
        original = read_rgb(embedded_root / "train" / f"{index:06d}.jpg")
        assert changed_pixels(read_rgb(path), original) > 100


def test_dataloader_shows_the_mapper_output(monkeypatch, tmp_path):
    """The tool draws the loader's image and targets: record what reaches the drawing function."""
    seen = []
    draw = visualize_data.draw_targets

    def recording_draw(rgb, instances, metadata):
        seen.append((rgb.copy(), instances, draw(rgb, instances, metadata)))
        return seen[-1][2]

    monkeypatch.setattr(visualize_data, "draw_targets", recording_draw)
    written = run("dataloader", tmp_path, "--num-images", "3")
    assert len(written) == len(seen) == 3
    assert any(len(instances) for _, instances, _ in seen)
    for path, (image, instances, drawing) in zip(written, seen):
        height, width = image.shape[:2]
        assert min(height, width) == 128 or max(height, width) == 192  # the training resize of TINY_OPTS
        assert instances.image_size == (height, width)
        boxes = instances.gt_boxes.tensor
        assert bool((boxes[:, 0::2] <= width).all() and (boxes[:, 1::2] <= height).all())
        assert set(instances.gt_classes.tolist()) <= set(range(len(EMBEDDED_CLASS_NAMES)))
        assert np.array_equal(read_rgb(path), drawing)
        if len(instances):
            assert changed_pixels(drawing, image) > 100
        else:  # an image without objects is left untouched
            assert changed_pixels(drawing, image) == 0


def test_bad_arguments_end_with_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"^error: --num-images must be at least 1, got 0$"):
        run("annotation", tmp_path, "--num-images", "0")
    with pytest.raises(SystemExit, match=r"^error: bad config .* or override: Non-existent key: MODEL.NOPE$"):
        run("annotation", tmp_path, "MODEL.NOPE", "1")


def test_bgr_input_format_is_drawn_in_rgb(tmp_path):
    """INPUT.FORMAT BGR: the drawing is converted back to RGB (same picture as with RGB input)."""
    rgb = run("annotation", tmp_path / "rgb", "--num-images", "1")
    bgr = visualize_data.main(["--config-file", DETR_CONFIG, "--source", "annotation", "--output",
                               str(tmp_path / "bgr"), "--num-images", "1", *TINY_OPTS, "INPUT.FORMAT", "BGR"])
    # same drawing up to the Visualizer's random box colours: the untouched background is equal
    assert np.mean(read_rgb(rgb[0]) == read_rgb(bgr[0])) > 0.9

"""tools/make_gallery.py: one demo drawing and one attention figure per trained config, small PNGs."""
import pytest
from PIL import Image

from tests.tools.tool_utils import DETR_CONFIG, TINY_OPTS, load_tool, save_random_checkpoint

make_gallery = load_tool("make_gallery")


def test_gallery_from_a_trained_config(val_pngs, tmp_path):
    save_random_checkpoint(DETR_CONFIG, TINY_OPTS, tmp_path / "model_final.pth")  # stands in for a quickstart run
    written = make_gallery.main(["--configs", DETR_CONFIG, "--image", val_pngs[0],
                                 "--output", str(tmp_path / "gallery"),
                                 "--max-width", "300", *TINY_OPTS, "OUTPUT_DIR", str(tmp_path)])
    assert [p.split("/")[-1] for p in written] == ["demo_detr.png", "attention_detr.png"]
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and 0 < image.width <= 300


def test_no_checkpoint_is_one_line(val_pngs, tmp_path):
    with pytest.raises(SystemExit, match=r"^error: no quickstart checkpoint found: run `bash tools/quickstart.sh`"):
        make_gallery.main(["--configs", DETR_CONFIG, "--image", val_pngs[0], "--output", str(tmp_path),
                           *TINY_OPTS, "OUTPUT_DIR", str(tmp_path / "untrained")])

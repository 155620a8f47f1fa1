"""tools/convert_checkpoint.py on Conditional DETR: official file -> {"model": ...} that Detectron2's checkpointer loads."""
import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer

from tests.harness.convert_tool import load_convert_tool, save_official
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import load_fixture, run_fixture_batch

OUT_ATOL = 1e-4  # float32 model outputs (project rule)


@pytest.fixture(scope="module")
def tool():
    return load_convert_tool()


@pytest.fixture(scope="module")
def fixture():
    return load_fixture("conditional_detr", "r50")


@pytest.fixture
def official_file(tmp_path, fixture):
    """The fixture weights saved as the official training script saves them ({"model", "args", ...})."""
    return save_official(tmp_path / "official.pth", fixture["state_dict"])


def test_output_loads_with_detectron2_checkpointer(tool, official_file, tmp_path, fixture):
    """What train_net.py --eval-only does with MODEL.WEIGHTS: the loaded model reproduces the official outputs."""
    destination = tmp_path / "converted.pth"
    result = tool.main([str(official_file), str(destination), "--keep-coco-ids"])
    assert (result.converter.method, result.variant) == ("conditional_detr", "")  # detected from the keys
    saved = torch.load(destination, weights_only=True)
    assert sorted(saved) == ["__source__", "model"]
    model = build_fixture_model("conditional_detr", "r50", converted=False)
    DetectionCheckpointer(model).load(str(destination))
    outputs = run_fixture_batch(model.eval(), fixture)["outputs"]
    torch.testing.assert_close(outputs["pred_logits"], fixture["outputs"]["pred_logits"], atol=OUT_ATOL, rtol=0)
    torch.testing.assert_close(outputs["pred_boxes"], fixture["outputs"]["pred_boxes"], atol=OUT_ATOL, rtol=0)


def test_default_reduces_the_head_to_coco_80(tool, official_file, tmp_path):
    destination = tmp_path / "converted80.pth"
    converted = tool.main([str(official_file), str(destination), "--method", "conditional_detr"]).state_dict
    assert converted["class_embed.weight"].shape == (80, 256)
    assert torch.load(destination, weights_only=True)["model"]["class_embed.bias"].shape == (80,)


def test_wrong_model_is_a_clear_error(tool, tmp_path):
    source = save_official(tmp_path / "detr.pth", load_fixture("detr", "r50")["state_dict"])
    with pytest.raises(SystemExit, match="Not an official Conditional DETR checkpoint: it looks like a DETR checkpoint"):
        tool.main([source, str(tmp_path / "out.pth"), "--method", "conditional_detr"])
    assert not (tmp_path / "out.pth").exists()


def test_config_check_rejects_a_mismatched_head(tool, official_file, tmp_path):
    """The tiny fixture does not fit the full-size R50 config: the tool says so instead of writing a file."""
    destination = tmp_path / "converted.pth"
    with pytest.raises(SystemExit, match="do not fit the model of .*conditional_detr_r50_50ep.yaml: "):
        tool.main([str(official_file), str(destination), "--config-file",
                   "configs/conditional_detr/conditional_detr_r50_50ep.yaml"])
    assert not destination.exists()

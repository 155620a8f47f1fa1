"""tools/convert_conditional_detr.py: official file -> {"model": ...} that Detectron2's checkpointer loads."""
import importlib.util
from pathlib import Path

import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer

from tests.conditional_detr.fixture_model import build_fixture_model, load_conditional_fixture, run_fixture_batch
from tests.fixture_utils import load_fixture

TOOL = Path(__file__).resolve().parents[2] / "tools" / "convert_conditional_detr.py"
OUT_ATOL = 1e-4  # float32 model outputs (project rule)


def load_tool():
    spec = importlib.util.spec_from_file_location("convert_conditional_detr", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool():
    return load_tool()


@pytest.fixture(scope="module")
def fixture():
    return load_conditional_fixture()


@pytest.fixture
def official_file(tmp_path, fixture):
    """The fixture weights saved as the official training script saves them ({"model", "args", ...})."""
    path = tmp_path / "official.pth"
    torch.save({"model": fixture["state_dict"], "args": fixture["args"], "epoch": 49}, path)
    return path


def test_output_loads_with_detectron2_checkpointer(tool, official_file, tmp_path, fixture):
    """What train_net.py --eval-only does with MODEL.WEIGHTS: the loaded model reproduces the official outputs."""
    destination = tmp_path / "converted.pth"
    tool.main([str(official_file), str(destination), "--keep-coco-ids"])
    saved = torch.load(destination, weights_only=True)
    assert list(saved) == ["model"]
    model = build_fixture_model(fixture)
    DetectionCheckpointer(model).load(str(destination))
    outputs = run_fixture_batch(model.eval(), fixture)["outputs"]
    torch.testing.assert_close(outputs["pred_logits"], fixture["outputs"]["pred_logits"], atol=OUT_ATOL, rtol=0)
    torch.testing.assert_close(outputs["pred_boxes"], fixture["outputs"]["pred_boxes"], atol=OUT_ATOL, rtol=0)


def test_default_reduces_the_head_to_coco_80(tool, official_file, tmp_path):
    destination = tmp_path / "converted80.pth"
    converted = tool.main([str(official_file), str(destination)])
    assert converted["class_embed.weight"].shape == (80, 256)
    assert torch.load(destination, weights_only=True)["model"]["class_embed.bias"].shape == (80,)


def test_wrong_model_is_a_clear_error(tool, tmp_path, capsys):
    source = tmp_path / "detr.pth"
    torch.save({"model": load_fixture("detr", "r50")["state_dict"]}, source)
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(source), str(tmp_path / "out.pth")])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "Not an official Conditional DETR checkpoint" in message and "looks like a DETR checkpoint" in message
    assert not (tmp_path / "out.pth").exists()


def test_config_check_rejects_a_mismatched_head(tool, official_file, tmp_path, capsys):
    """The tiny fixture does not fit the full-size R50 config: the tool says so instead of writing a file."""
    destination = tmp_path / "converted.pth"
    with pytest.raises(SystemExit):
        tool.main([str(official_file), str(destination), "--config-file",
                   "configs/conditional_detr/conditional_detr_r50_50ep.yaml"])
    assert "do not fit the model" in capsys.readouterr().err
    assert not destination.exists()

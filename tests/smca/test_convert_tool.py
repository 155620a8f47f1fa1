"""tools/convert_smca.py: official file -> {"model": ...} that Detectron2's checkpointer loads."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torchvision

from detectron2.checkpoint import DetectionCheckpointer

from tests.fixture_utils import load_fixture

from .tiny_models import build_tiny_official_smca, run_fixture_batch

ROOT = Path(__file__).resolve().parents[2]
OUT_ATOL = 1e-4  # float32 model outputs (project rule)
QUICKSTART = str(ROOT / "configs" / "quickstart" / "smca_single_scale_embedded.yaml")
# the tiny official model (fixture args) on a ResNet-18 trunk, as a Detectron2 config
TINY_OPTS = ["MODEL.RESNETS.NORM", "FrozenBN", "MODEL.DETR.HIDDEN_DIM", 256, "MODEL.DETR.NHEADS", 8,
             "MODEL.DETR.ENC_LAYERS", 1, "MODEL.DETR.DEC_LAYERS", 2, "MODEL.DETR.DIM_FEEDFORWARD", 64,
             "MODEL.DETR.NUM_OBJECT_QUERIES", 30, "MODEL.DETR.NUM_CLASSES", 80]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("convert_smca", ROOT / "tools" / "convert_smca.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fixture():
    return load_fixture("smca", "single_scale_type3")


def save_official(path, state_dict):
    """Saved as the official training script saves checkpoints ({"model", "epoch", ...})."""
    torch.save({"model": state_dict, "epoch": 49}, path)
    return str(path)


def with_resnet18_trunk(state_dict):
    """The fixture weights plus a torchvision ResNet-18 trunk under the official backbone prefix."""
    trunk = {f"backbone.0.body.{k}": v for k, v in torchvision.models.resnet18().state_dict().items()
             if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    return {**state_dict, **trunk}


def test_output_reproduces_the_official_outputs(tool, fixture, tmp_path):
    """What train_net.py --eval-only does with MODEL.WEIGHTS: the loaded model gives the official outputs."""
    destination = tmp_path / "converted.pth"
    tool.main([save_official(tmp_path / "official.pth", fixture["state_dict"]), str(destination), "--keep-coco-ids"])
    assert list(torch.load(destination, weights_only=True)) == ["model", "__source__"]
    model = build_tiny_official_smca(fixture, "independent")
    for param in model.parameters():
        torch.nn.init.zeros_(param)
    DetectionCheckpointer(model).load(str(destination))
    outputs = run_fixture_batch(model.eval(), fixture)["outputs"]
    torch.testing.assert_close(outputs["pred_logits"], fixture["outputs"]["pred_logits"], atol=OUT_ATOL, rtol=0)
    torch.testing.assert_close(outputs["pred_boxes"], fixture["outputs"]["pred_boxes"], atol=OUT_ATOL, rtol=0)


def test_default_reduces_to_80_classes_and_fills_a_config_model(tool, fixture, tmp_path):
    source = save_official(tmp_path / "official.pth", with_resnet18_trunk(fixture["state_dict"]))
    converted = tool.main([source, str(tmp_path / "d2.pth"), "--config-file", QUICKSTART,
                           "--opts", *map(str, TINY_OPTS)])
    weight = converted["class_embed.weight"]
    assert weight.shape == (80, 256)
    assert torch.equal(weight[0], fixture["state_dict"]["class_embed.weight"][1])  # person = COCO id 1
    assert torch.equal(weight[-1], fixture["state_dict"]["class_embed.weight"][90])  # toothbrush = id 90


def test_config_mismatch_names_the_needed_keys(tool, fixture, tmp_path, capsys):
    source = save_official(tmp_path / "official.pth", with_resnet18_trunk(fixture["state_dict"]))
    with pytest.raises(SystemExit):
        tool.main([source, str(tmp_path / "d2.pth"), "--config-file", QUICKSTART,
                   "--opts", *map(str, TINY_OPTS), "MODEL.SMCA.SCALE_MODE", "single"])
    message = capsys.readouterr().err
    assert "shape mismatches" in message and "MODEL.SMCA.SCALE_MODE independent" in message
    assert not (tmp_path / "d2.pth").exists()


@pytest.mark.parametrize("change,reason", [
    (lambda sd: {k: v for k, v in sd.items() if ".point1." not in k}, "plain DETR"),
    (lambda sd: {**sd, "transformer.level_embed": torch.zeros(4, 256)}, "multi-scale"),
    (lambda sd: {**sd, "transformer.decoder.layers.0.point3.weight": torch.zeros(24, 256)}, "type4"),
])
def test_wrong_checkpoints_are_refused_with_the_reason(tool, fixture, tmp_path, capsys, change, reason):
    source = save_official(tmp_path / "wrong.pth", change(dict(fixture["state_dict"])))
    with pytest.raises(SystemExit):
        tool.main([source, str(tmp_path / "d2.pth")])
    assert reason in capsys.readouterr().err

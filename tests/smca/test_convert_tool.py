"""tools/convert_checkpoint.py on SMCA: official file -> {"model": ...} that Detectron2's checkpointer loads."""
import pytest
import torch
import torchvision

from detectron2.checkpoint import DetectionCheckpointer

from tests.harness.convert_tool import ROOT, load_convert_tool, save_official
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import load_fixture, run_fixture_batch

OUT_ATOL = 1e-4  # float32 model outputs (project rule)
QUICKSTART = str(ROOT / "configs" / "quickstart" / "smca_single_scale_embedded.yaml")
# the tiny official model (fixture args) on a ResNet-18 trunk, as a Detectron2 config
TINY_OPTS = ["MODEL.RESNETS.NORM", "FrozenBN", "MODEL.DETR.HIDDEN_DIM", 256, "MODEL.DETR.NHEADS", 8,
             "MODEL.DETR.ENC_LAYERS", 1, "MODEL.DETR.DEC_LAYERS", 2, "MODEL.DETR.DIM_FEEDFORWARD", 64,
             "MODEL.DETR.NUM_OBJECT_QUERIES", 30, "MODEL.DETR.NUM_CLASSES", 80]


@pytest.fixture(scope="module")
def tool():
    return load_convert_tool()


@pytest.fixture(scope="module")
def fixture():
    return load_fixture("smca", "single_scale_type3")


def with_resnet18_trunk(state_dict):
    """The fixture weights plus a torchvision ResNet-18 trunk under the official backbone prefix."""
    trunk = {f"backbone.0.body.{k}": v for k, v in torchvision.models.resnet18().state_dict().items()
             if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    return {**state_dict, **trunk}


def test_output_reproduces_the_official_outputs(tool, fixture, tmp_path):
    """What train_net.py --eval-only does with MODEL.WEIGHTS: the loaded model gives the official outputs."""
    destination = tmp_path / "converted.pth"
    result = tool.main([save_official(tmp_path / "official.pth", fixture["state_dict"]), str(destination),
                        "--keep-coco-ids"])
    assert (result.converter.method, result.variant) == ("smca", "single_scale_type3")  # detected from the keys
    assert list(torch.load(destination, weights_only=True)) == ["model", "__source__"]
    model = build_fixture_model("smca", "single_scale_type3", converted=False)
    for param in model.parameters():
        torch.nn.init.zeros_(param)
    DetectionCheckpointer(model).load(str(destination))
    outputs = run_fixture_batch(model.eval(), fixture)["outputs"]
    torch.testing.assert_close(outputs["pred_logits"], fixture["outputs"]["pred_logits"], atol=OUT_ATOL, rtol=0)
    torch.testing.assert_close(outputs["pred_boxes"], fixture["outputs"]["pred_boxes"], atol=OUT_ATOL, rtol=0)


def test_default_reduces_to_80_classes_and_fills_a_config_model(tool, fixture, tmp_path):
    source = save_official(tmp_path / "official.pth", with_resnet18_trunk(fixture["state_dict"]))
    converted = tool.main([source, str(tmp_path / "d2.pth"), "--config-file", QUICKSTART,
                           "--opts", *map(str, TINY_OPTS)]).state_dict
    weight = converted["class_embed.weight"]
    assert weight.shape == (80, 256)
    assert torch.equal(weight[0], fixture["state_dict"]["class_embed.weight"][1])  # person = COCO id 1
    assert torch.equal(weight[-1], fixture["state_dict"]["class_embed.weight"][90])  # toothbrush = id 90


def test_config_mismatch_names_the_needed_keys(tool, fixture, tmp_path):
    source = save_official(tmp_path / "official.pth", with_resnet18_trunk(fixture["state_dict"]))
    with pytest.raises(SystemExit, match="the config has MODEL.SMCA.SCALE_MODE single; "
                                         "this checkpoint needs: MODEL.SMCA.SCALE_MODE independent$"):
        tool.main([source, str(tmp_path / "d2.pth"), "--config-file", QUICKSTART,
                   "--opts", *map(str, TINY_OPTS), "MODEL.SMCA.SCALE_MODE", "single"])
    assert not (tmp_path / "d2.pth").exists()


@pytest.mark.parametrize("change,reason", [
    (lambda sd: {k: v for k, v in sd.items() if ".point" not in k and ".norm4." not in k},
     "Not an official SMCA checkpoint: it looks like a DETR checkpoint"),
    (lambda sd: {**sd, "transformer.level_embed": torch.zeros(4, 256)}, "official \\*multi-scale\\* SMCA checkpoint"),
    (lambda sd: {**sd, "transformer.decoder.layers.0.point3.weight": torch.zeros(24, 256)}, "type4"),
])
def test_wrong_checkpoints_are_refused_with_the_reason(tool, fixture, tmp_path, change, reason):
    """With --method smca: each is refused with its reason (without the prior's layers the keys are DETR's)."""
    source = save_official(tmp_path / "wrong.pth", change(dict(fixture["state_dict"])))
    with pytest.raises(SystemExit, match=reason):
        tool.main([source, str(tmp_path / "d2.pth"), "--method", "smca"])
    assert not (tmp_path / "d2.pth").exists()

"""tools/convert_checkpoint.py on Deformable DETR: official-layout checkpoint -> Detectron2 checkpoint our model loads.

The official-layout checkpoints here are the tiny fixtures' weights, plus a torchvision ResNet-18
trunk under ``backbone.0.body.`` where a whole model is checked (the fixtures' stub trunk has the
ResNet-18 widths 128/256/512, the same as the quickstart configs' backbone).
"""
import pytest
import torch
import torchvision

from detectron2.modeling import build_model

from projects.config import load_config

from tests.harness.convert_tool import load_convert_tool as load_tool
from tests.harness.convert_tool import save_official as save_official_file
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import cached_fixture
from tests.harness.model_utils import assert_checkpoint_restores


def save_official(tmp_path, variant, with_trunk=False):
    state = {k: v.float() for k, v in cached_fixture("deformable_detr", variant)["state_dict"].items()}
    if with_trunk:  # official FrozenBatchNorm2d stores no num_batches_tracked; no classifier in the trunk
        trunk = torchvision.models.resnet18().state_dict()
        state.update({f"backbone.0.body.{k}": v for k, v in trunk.items()
                      if not k.endswith("num_batches_tracked") and not k.startswith("fc.")})
    return save_official_file(tmp_path / f"{variant}_official.pth", state)


@pytest.mark.parametrize("variant", ["single_scale", "box_refine", "two_stage"])
def test_variant_checkpoint_loads_into_the_model(tmp_path, variant):
    source, output = save_official(tmp_path, variant), tmp_path / "d2.pth"
    result = load_tool().main([str(source), str(output), "--keep-coco-ids"])
    assert (result.converter.method, result.variant) == ("deformable_detr", variant)  # detected from the keys
    assert_checkpoint_restores(build_fixture_model("deformable_detr", variant), output)


def quickstart_opts():
    """Overrides making the quickstart model the tiny fixture's (91 -> 80 classes by the tool)."""
    return ["--opts", "MODEL.RESNETS.NORM", "FrozenBN", "MODEL.DETR.HIDDEN_DIM", "64", "MODEL.DETR.ENC_LAYERS", "1",
            "MODEL.DETR.DEC_LAYERS", "2", "MODEL.DETR.DIM_FEEDFORWARD", "64", "MODEL.DETR.NUM_OBJECT_QUERIES", "30",
            "MODEL.DETR.NUM_CLASSES", "80"]


def test_config_checked_conversion_with_coco_80_classes(tmp_path):
    source, output = save_official(tmp_path, "multi_scale", with_trunk=True), tmp_path / "d2.pth"
    tool = load_tool()
    tool.main([str(source), str(output), "--config-file", "configs/quickstart/deformable_detr_embedded.yaml",
               *quickstart_opts()])
    cfg = load_config("configs/quickstart/deformable_detr_embedded.yaml",
                      quickstart_opts()[1:] + ["MODEL.DEVICE", "cpu"])
    model = build_model(cfg)
    model.load_state_dict(torch.load(output, weights_only=True)["model"], strict=True)
    assert model.class_embed[0].out_features == 80

    with pytest.raises(SystemExit, match="is Deformable DETR multi_scale .* but box_refine"):
        tool.main([str(source), str(output), "--config-file", "configs/quickstart/deformable_detr_refine_embedded.yaml",
                   *quickstart_opts()])
    with pytest.raises(SystemExit, match="91 classes but the config has MODEL.DETR.NUM_CLASSES 80; drop --keep-coco-ids"):
        tool.main([str(source), str(output), "--keep-coco-ids", "--config-file",
                   "configs/quickstart/deformable_detr_embedded.yaml", *quickstart_opts()])

"""tools/convert_checkpoint.py on DAB-DETR / DAB-Deformable-DETR and their DN-DETR versions: official-layout
checkpoint -> Detectron2 checkpoint our model loads, the method and variant detected from the keys, and a
checkpoint of another variant (or with / without denoising) named in one line against a config.

The official-layout checkpoints are the tiny fixtures' weights, plus a torchvision ResNet-18 trunk under
``backbone.0.body.`` where a whole model is checked (the fixtures' stub trunks have ResNet-18's widths).
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

# (method, fixture = variant, quickstart config of its meta-architecture)
CHECKPOINTS = [("dab_detr", "dab_detr", "single"), ("dab_detr", "dab_deformable_detr", "deformable"),
               ("dn_detr", "dn_dab_detr", "single"), ("dn_detr", "dn_dab_deformable_detr", "deformable")]
QUICKSTART = {"single": "configs/quickstart/dab_detr_embedded.yaml",
              "deformable": "configs/quickstart/dab_deformable_detr_embedded.yaml"}


def save_official(tmp_path, method, name, with_trunk=False):
    state = {k: v.float() for k, v in cached_fixture(method, name)["state_dict"].items()}
    if with_trunk:  # official FrozenBatchNorm2d stores no num_batches_tracked; no classifier in the trunk
        trunk = torchvision.models.resnet18().state_dict()
        state.update({f"backbone.0.body.{k}": v for k, v in trunk.items()
                      if not k.endswith("num_batches_tracked") and not k.startswith("fc.")})
    return save_official_file(tmp_path / f"{name}_official.pth", state)


def quickstart_opts(denoising=False):
    """Overrides making the quickstart model the tiny fixture's (91 -> 80 classes by the tool)."""
    return ["--opts", "MODEL.RESNETS.NORM", "FrozenBN", "MODEL.DETR.HIDDEN_DIM", "256", "MODEL.DETR.ENC_LAYERS", "1",
            "MODEL.DETR.DEC_LAYERS", "2", "MODEL.DETR.DIM_FEEDFORWARD", "64", "MODEL.DETR.NUM_OBJECT_QUERIES", "30",
            "MODEL.DETR.NUM_CLASSES", "80", "MODEL.DN.ENABLED", str(denoising)]


@pytest.mark.parametrize("method,name,variant", CHECKPOINTS)
def test_checkpoint_is_detected_and_loads_into_the_model(tmp_path, method, name, variant):
    source, output = save_official(tmp_path, method, name), tmp_path / "d2.pth"
    result = load_tool().main([str(source), str(output), "--keep-coco-ids"])
    assert (result.converter.method, result.variant) == (method, name)  # --method auto: from the keys
    assert_checkpoint_restores(build_fixture_model(method, name), output)


@pytest.mark.parametrize("method,name,variant", CHECKPOINTS)
def test_config_checked_conversion_with_coco_80_classes(tmp_path, method, name, variant):
    source, output = save_official(tmp_path, method, name, with_trunk=True), tmp_path / "d2.pth"
    opts = quickstart_opts(denoising=method == "dn_detr")
    load_tool().main([str(source), str(output), "--config-file", QUICKSTART[variant], *opts])
    model = build_model(load_config(QUICKSTART[variant], opts[1:] + ["MODEL.DEVICE", "cpu"]))
    model.load_state_dict(torch.load(output, weights_only=True)["model"], strict=True)


def test_other_variant_is_named_in_one_line(tmp_path):
    tool = load_tool()
    deformable = save_official(tmp_path, "dab_detr", "dab_deformable_detr", with_trunk=True)
    found = r"builds DABDETR, but the checkpoint is DAB-DETR \(variant dab_deformable_detr\)"
    with pytest.raises(SystemExit, match=found):
        tool.main([deformable, str(tmp_path / "out.pth"), "--config-file", QUICKSTART["single"],
                   *quickstart_opts()])
    denoising = save_official(tmp_path, "dn_detr", "dn_dab_detr", with_trunk=True)
    with pytest.raises(SystemExit, match="is a DN-DAB-DETR checkpoint, but the config builds DAB-DETR"):
        tool.main([denoising, str(tmp_path / "out.pth"), "--config-file", QUICKSTART["single"],
                   *quickstart_opts()])
    assert not (tmp_path / "out.pth").exists()


@pytest.mark.parametrize("method,name,family", [("deformable_detr", "box_refine", "Deformable DETR"),
                                                ("conditional_detr", "r50", "Conditional DETR")])
def test_wrong_model_is_a_clear_error(tmp_path, method, name, family):
    source = save_official(tmp_path, method, name)
    with pytest.raises(SystemExit, match=f"Not an official DAB-DETR checkpoint: it looks like a {family} checkpoint"):
        load_tool().main([source, str(tmp_path / "out.pth"), "--method", "dab_detr"])

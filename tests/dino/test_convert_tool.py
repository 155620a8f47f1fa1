"""tools/convert_checkpoint.py on DINO: an official-layout checkpoint (the tiny fixture's weights, plus a torchvision
ResNet-18 trunk where a whole model is checked: the fixture's stub trunk has its widths 128/256/512) -> a
Detectron2 checkpoint our model loads; the method is detected, other methods and variants are named."""
import pytest
import torch
import torchvision

from detectron2.modeling import build_model

from projects.checkpoint import identify
from projects.config import load_config
from projects.registry import registered_methods
from tests.harness.convert_tool import load_convert_tool as load_tool
from tests.harness.convert_tool import save_official as save_official_file
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import cached_fixture
from tests.harness.model_utils import assert_checkpoint_restores, official_key_shapes, shape_only_state_dict

QUICKSTART = "configs/quickstart/dino_embedded.yaml"


def save_official(tmp_path, with_trunk=False):
    state = {k: v.float() for k, v in cached_fixture("dino", "dino_4scale")["state_dict"].items()}
    if with_trunk:  # official FrozenBatchNorm2d stores no num_batches_tracked; no classifier in the trunk
        trunk = torchvision.models.resnet18().state_dict()
        state.update({f"backbone.0.body.{k}": v for k, v in trunk.items()
                      if not k.endswith("num_batches_tracked") and not k.startswith("fc.")})
    return save_official_file(tmp_path / "dino_official.pth", state, epoch=11)


def test_checkpoint_is_detected_and_loads_into_the_model(tmp_path):
    source, output = save_official(tmp_path), tmp_path / "d2.pth"
    result = load_tool().main([str(source), str(output), "--keep-coco-ids"])
    assert (result.converter.method, result.variant) == ("dino", "4scale")  # detected from the keys alone
    assert_checkpoint_restores(build_fixture_model("dino", "dino_4scale"), output)


def quickstart_opts():
    """Overrides making the quickstart model the tiny fixture's (91 -> 80 classes by the tool)."""
    return ["--opts", "MODEL.RESNETS.NORM", "FrozenBN", "MODEL.DETR.HIDDEN_DIM", "256", "MODEL.DETR.ENC_LAYERS", "1",
            "MODEL.DETR.DEC_LAYERS", "2", "MODEL.DETR.DIM_FEEDFORWARD", "64", "MODEL.DETR.NUM_OBJECT_QUERIES", "30",
            "MODEL.DETR.NUM_CLASSES", "80"]


def test_config_checked_conversion_with_coco_80_classes(tmp_path):
    source, output = save_official(tmp_path, with_trunk=True), tmp_path / "d2.pth"
    tool = load_tool()
    tool.main([str(source), str(output), "--config-file", QUICKSTART, *quickstart_opts()])
    model = build_model(load_config(QUICKSTART, quickstart_opts()[1:] + ["MODEL.DEVICE", "cpu"]))
    model.load_state_dict(torch.load(output, weights_only=True)["model"], strict=True)
    assert model.class_embed[0].out_features == 80 and model.label_enc.num_embeddings == 81
    five_scale = quickstart_opts() + ["MODEL.DINO.NUM_FEATURE_LEVELS", "5"]
    with pytest.raises(SystemExit, match="is DINO 4-scale, but the config builds 5 levels"):
        tool.main([str(source), str(output), "--config-file", QUICKSTART, *five_scale])
    with pytest.raises(SystemExit, match="91 classes but the config has MODEL.DETR.NUM_CLASSES 80; drop --keep-coco"):
        tool.main([str(source), str(output), "--keep-coco-ids", "--config-file", QUICKSTART, *quickstart_opts()])


def test_only_dino_recognises_dino_keys():
    for variant in ("dino_4scale", "dino_5scale"):
        found = identify(shape_only_state_dict(official_key_shapes("dino", variant)[0]))
        assert [(converter.method, name) for converter, name in found] == [("dino", variant.split("_")[1])]


@pytest.mark.skipif("dab_detr" not in registered_methods(), reason="the DAB-DETR package is not installed")
def test_dab_deformable_checkpoint_given_to_dino_is_named(tmp_path):
    state = shape_only_state_dict(official_key_shapes("dab_detr", "dab_deformable_detr")[0])
    source = save_official_file(tmp_path / "dab.pth", {k: torch.zeros(v.shape) for k, v in state.items()})
    # the DAB-DETR package names its variants; any name of its deformable one will do here
    with pytest.raises(SystemExit, match=r"Not an official DINO checkpoint: it looks like a DAB-DETR checkpoint "
                                         r"\(variant [^)]*deformable[^)]*\)"):
        load_tool().main([source, str(tmp_path / "out.pth"), "--method", "dino"])

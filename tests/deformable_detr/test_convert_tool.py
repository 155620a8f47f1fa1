"""tools/convert_deformable_detr.py: official-layout checkpoint -> Detectron2 checkpoint our model loads.

The official-layout checkpoints here are the tiny fixtures' weights, plus a torchvision ResNet-18
trunk under ``backbone.0.body.`` where a whole model is checked (the fixtures' stub trunk has the
ResNet-18 widths 128/256/512, the same as the quickstart configs' backbone).
"""
import importlib.util
from pathlib import Path

import pytest
import torch
import torchvision

from detectron2.modeling import build_model

from deformable_detr import add_deformable_detr_config
from projects.checkpoint import load_cpu_config

from tests.deformable_detr.tiny_models import build_tiny_model, fixture
from tests.model_utils import assert_checkpoint_restores

ROOT = Path(__file__).resolve().parents[2]


def load_tool():
    spec = importlib.util.spec_from_file_location("convert_deformable_detr", ROOT / "tools/convert_deformable_detr.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_official(tmp_path, variant, with_trunk=False):
    state = {k: v.float() for k, v in fixture(variant)["state_dict"].items()}
    if with_trunk:  # official FrozenBatchNorm2d stores no num_batches_tracked; no classifier in the trunk
        trunk = torchvision.models.resnet18().state_dict()
        state.update({f"backbone.0.body.{k}": v for k, v in trunk.items()
                      if not k.endswith("num_batches_tracked") and not k.startswith("fc.")})
    path = tmp_path / f"{variant}_official.pth"
    torch.save({"model": state, "epoch": 49}, path)
    return path


def test_variant_checkpoint_loads_into_the_model(tmp_path):
    source, output = save_official(tmp_path, "box_refine"), tmp_path / "d2.pth"
    load_tool().main([str(source), str(output), "--variant", "box_refine", "--keep-coco-ids"])
    model = build_tiny_model("box_refine")
    assert_checkpoint_restores(model, output)


def test_other_variant_is_a_clear_error(tmp_path):
    source = save_official(tmp_path, "two_stage")
    with pytest.raises(SystemExit, match=r"two_stage \(4 feature level.*two-stage\), but multi_scale .* was requested"):
        load_tool().main([str(source), str(tmp_path / "x.pth"), "--variant", "multi_scale"])
    assert not (tmp_path / "x.pth").exists()


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
    cfg = load_cpu_config(add_deformable_detr_config, "configs/quickstart/deformable_detr_embedded.yaml",
                          quickstart_opts()[1:])
    model = build_model(cfg)
    model.load_state_dict(torch.load(output, weights_only=True)["model"], strict=True)
    assert model.class_embed[0].out_features == 80

    with pytest.raises(SystemExit, match="is Deformable DETR multi_scale .* but box_refine"):
        tool.main([str(source), str(output), "--config-file", "configs/quickstart/deformable_detr_refine_embedded.yaml",
                   *quickstart_opts()])
    with pytest.raises(SystemExit, match="91 classes but the config has MODEL.DETR.NUM_CLASSES 80; drop --keep-coco-ids"):
        tool.main([str(source), str(output), "--keep-coco-ids", "--config-file",
                   "configs/quickstart/deformable_detr_embedded.yaml", *quickstart_opts()])

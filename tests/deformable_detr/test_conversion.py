"""The converter maps every full-size official key list completely, and the parameter counts match.

Full-size models are built from the paper configs (ResNet-50, 6+6 layers, 300 queries) with the
official 91-way COCO-id head; official keys come from tests/fixtures/deformable_detr/<variant>.keys.json.
"""
from functools import lru_cache

import pytest
import torch

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from deformable_detr import PAPER_VARIANTS, add_deformable_detr_config, convert_deformable_detr_state_dict, detect_variant
from deformable_detr.convert import variant_from_config
from projects.checkpoint import COCO_THING_IDS, ConversionError, WrongCheckpointError, check_conversion
from projects.engine.solver import detr_param_groups
from tests.harness.fixture_utils import cached_fixture
from tests.harness.model_utils import count_parameters, official_key_shapes, shape_only_state_dict

CONFIGS = {
    "single_scale": "configs/deformable_detr/deformable_detr_single_scale_r50_50ep.yaml",
    "multi_scale": "configs/deformable_detr/deformable_detr_r50_50ep.yaml",
    "box_refine": "configs/deformable_detr/deformable_detr_refine_r50_50ep.yaml",
    "two_stage": "configs/deformable_detr/deformable_detr_two_stage_r50_50ep.yaml",
}


def full_size_cfg(variant):
    cfg = get_cfg()
    add_deformable_detr_config(cfg)
    cfg.merge_from_file(CONFIGS[variant])
    cfg.MODEL.DETR.NUM_CLASSES = 91  # official head: COCO category ids used directly
    cfg.MODEL.DEVICE = "cpu"
    return cfg


@lru_cache(maxsize=None)
def full_size_model(variant):
    return build_model(full_size_cfg(variant))


@pytest.mark.parametrize("variant", list(PAPER_VARIANTS))
def test_full_size_conversion_is_complete_and_counts_match(variant):
    key_shapes, info = official_key_shapes("deformable_detr", variant)
    official = shape_only_state_dict(key_shapes)
    assert detect_variant(official) == PAPER_VARIANTS[variant] == variant_from_config(full_size_cfg(variant))
    model = full_size_model(variant)
    converted = convert_deformable_detr_state_dict(official, expected_variant=PAPER_VARIANTS[variant])
    check_conversion(model.state_dict(), converted)  # every key consumed, every entry filled, shapes equal
    assert count_parameters(model) == info["num_params"]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == info["num_params_requires_grad"]


def test_optimizer_groups_match_the_official_ones():
    """README table (multi-scale): lr 2e-4: 230 tensors / 15.82 M; backbone 2e-5: 42 / 23.23 M;
    sampling offsets + reference points 2e-5: 26 / 0.79 M. Weight decay 1e-4 everywhere."""
    cfg = full_size_cfg("multi_scale")
    solver = cfg.SOLVER
    groups = detr_param_groups(full_size_model("multi_scale"), solver.BASE_LR, solver.WEIGHT_DECAY,
                               solver.BACKBONE_MULTIPLIER, solver.LINEAR_PROJ_NAMES, solver.LINEAR_PROJ_MULTIPLIER)
    summary = {g["name"]: (g["lr"], len(g["params"]), round(sum(p.numel() for p in g["params"]) / 1e6, 2),
                           g["weight_decay"]) for g in groups}
    assert summary == {
        "default": (pytest.approx(2e-4), 230, 15.82, 1e-4),
        "backbone": (pytest.approx(2e-5), 42, 23.23, 1e-4),
        "linear_proj": (pytest.approx(2e-5), 26, 0.79, 1e-4),
    }


def test_variant_mismatch_is_a_clear_error():
    official = shape_only_state_dict(official_key_shapes("deformable_detr", "two_stage")[0])
    with pytest.raises(ConversionError, match="two_stage .*but multi_scale"):
        convert_deformable_detr_state_dict(official, expected_variant=PAPER_VARIANTS["multi_scale"])
    detr_keys = shape_only_state_dict(official_key_shapes("detr", "r50")[0])
    with pytest.raises(WrongCheckpointError, match="Not an official Deformable DETR checkpoint: it looks like a DETR "):
        detect_variant(detr_keys)


def test_decoder_alias_must_equal_its_head():
    state = dict(cached_fixture("deformable_detr", "box_refine")["state_dict"])
    state["transformer.decoder.bbox_embed.1.layers.0.bias"] = state["bbox_embed.1.layers.0.bias"] + 1
    with pytest.raises(ConversionError, match="differs"):
        convert_deformable_detr_state_dict(state)


@pytest.mark.parametrize("variant", ["multi_scale", "two_stage"])
def test_coco_class_reduction(variant):
    official = cached_fixture("deformable_detr", variant)["state_dict"]
    converted = convert_deformable_detr_state_dict(official, coco_to_contiguous=True)
    num_heads = 3 if variant == "two_stage" else 2
    for head in range(num_heads):
        weight = converted[f"class_embed.{head}.weight"]
        assert weight.shape[0] == converted[f"class_embed.{head}.bias"].shape[0] == 80
        assert torch.equal(weight[-1], official[f"class_embed.{head}.weight"][90])  # toothbrush = id 90
    assert COCO_THING_IDS[0] == 1
    person = official["class_embed.0.weight"][1]
    assert torch.equal(converted["class_embed.0.weight"][0], person)
    if variant == "two_stage":  # the proposal head keeps its objectness column (official label 0) first
        assert torch.equal(converted["class_embed.2.weight"][0], official["class_embed.2.weight"][0])

"""The DINO converter maps both full-size official key lists (4-scale, 5-scale) completely onto the models of
configs/dino/, parameter counts match, the method and variant are read off the keys, and mistakes are named.

Full-size models are built from the configs (ResNet-50, 6+6 layers, 900 queries) with the official
91-way COCO-id heads; official keys come from tests/fixtures/dino/<variant>.keys.json (shapes only).
"""
from functools import lru_cache

import pytest
import torch

from detectron2.modeling import build_model

from dino import DINO_CONVERTER, convert_dino_state_dict, detect_dino
from dino.convert import check_config
from projects.checkpoint import (
    COCO_THING_IDS, ConversionError, WrongCheckpointError, check_conversion, guess_method,
)
from projects.config import load_config
from projects.engine.solver import detr_param_groups
from tests.harness.model_utils import count_parameters, count_trainable, official_key_shapes, shape_only_state_dict

CONFIGS = {variant: f"configs/dino/{variant}_r50_12ep.yaml" for variant in ("dino_4scale", "dino_5scale")}


def full_size_cfg(variant):
    return load_config(CONFIGS[variant], ["MODEL.DETR.NUM_CLASSES", 91, "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])


@lru_cache(maxsize=None)
def full_size_model(variant):
    return build_model(full_size_cfg(variant))


def official(variant):
    return shape_only_state_dict(official_key_shapes("dino", variant)[0])


@pytest.mark.parametrize("variant", list(CONFIGS))
def test_full_size_conversion_is_complete_and_counts_match(variant):
    key_shapes, info = official_key_shapes("dino", variant)
    state = shape_only_state_dict(key_shapes)
    assert detect_dino(state) == variant.split("_")[1]
    model = full_size_model(variant)
    converted = convert_dino_state_dict(state)
    check_conversion(model.state_dict(), converted)  # every key consumed, every entry filled, shapes equal
    assert len(key_shapes) == info["num_state_dict_entries"]
    assert count_parameters(model) == info["num_params"]
    assert count_trainable(model) == info["num_params_requires_grad"]  # ResNet stem and res2 frozen
    check_config(state, converted, full_size_cfg(variant))


def test_full_size_weight_dict_is_the_official_one():
    model = full_size_model("dino_4scale")
    _, info = official_key_shapes("dino", "dino_4scale")
    assert model.criterion.weight_dict == info["weight_dict"]  # 39 weights: 6 layers, their dn parts, _interm


def test_optimizer_groups_are_the_official_two():
    """Official param_dict_type "default": backbone 1e-5, everything else (sampling offsets included) 1e-4."""
    cfg = full_size_cfg("dino_4scale")
    model, solver = full_size_model("dino_4scale"), cfg.SOLVER
    groups = detr_param_groups(model, solver.BASE_LR, solver.WEIGHT_DECAY, solver.BACKBONE_MULTIPLIER,
                               solver.LINEAR_PROJ_NAMES, solver.LINEAR_PROJ_MULTIPLIER)
    lrs = {group["name"]: group["lr"] for group in groups if group["params"]}
    assert lrs == {"default": pytest.approx(1e-4), "backbone": pytest.approx(1e-5)}
    assert all(group["weight_decay"] == 1e-4 for group in groups)
    offsets = {id(p) for name, p in model.named_parameters() if "sampling_offsets" in name}
    default = next(group for group in groups if group["name"] == "default")
    assert offsets <= {id(p) for p in default["params"]}


def test_coco_ids_reduce_to_80_classes_in_every_class_head():
    state = {key: torch.randn(shape) for key, shape in official_key_shapes("dino", "dino_4scale")[0].items()
             if not key.startswith("backbone.")}
    for key in [k for k in state if k.startswith("transformer.decoder.") and "_embed." in k]:
        state[key] = state[key[len("transformer.decoder."):]]  # official aliases hold the same tensor
    converted = convert_dino_state_dict(state, coco_to_contiguous=True)
    for key in ("class_embed.0.weight", "class_embed.5.bias", "transformer.enc_out_class_embed.weight"):
        assert converted[key].shape[0] == 80
        assert torch.equal(converted[key], state[key][COCO_THING_IDS])
    assert torch.equal(converted["label_enc.weight"], state["label_enc.weight"][COCO_THING_IDS + [91]])


def test_five_scale_weights_into_a_four_scale_config_is_one_line():
    state = official("dino_5scale")
    with pytest.raises(ConversionError, match=r"^The checkpoint is DINO 5-scale, but the config builds 4 levels"):
        check_config(state, convert_dino_state_dict(state), full_size_cfg("dino_4scale"))


def test_other_checkpoints_are_named():
    deformable = official_key_shapes("deformable_detr", "two_stage")[0]
    with pytest.raises(WrongCheckpointError, match="Not an official DINO checkpoint: it looks like a Deformable DETR"):
        convert_dino_state_dict(shape_only_state_dict(deformable))
    # the longest matching signature wins: DINO's keys also contain Deformable DETR's fragment
    assert guess_method(official_key_shapes("dino", "dino_4scale")[0]) == "DINO"
    assert guess_method(deformable) == "DeformableDETR"
    assert DINO_CONVERTER.detect(shape_only_state_dict(deformable)) is None


def test_decoder_alias_must_equal_its_head():
    state = {key: torch.zeros(shape) for key, shape in official_key_shapes("dino", "dino_4scale")[0].items()}
    state["transformer.decoder.class_embed.3.bias"] = torch.ones_like(state["class_embed.3.bias"])
    with pytest.raises(ConversionError, match="transformer.decoder.class_embed.3.bias differs from class_embed.3.bias"):
        convert_dino_state_dict(state)

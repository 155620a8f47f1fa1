"""DAB-DETR and DAB-Deformable-DETR equal the official implementation on the tiny fixtures (weights through
our converter): every stored intermediate, the outputs of every layer, matcher indices, every loss (incl.
the logged loss_xy / loss_hw) and the post-processed detections (official num_select: 300 / 100).

Tolerances (tests/harness/tolerances.py): 1e-4 on float32 outputs and intermediates (measured <= 3e-6),
1e-6 on losses; masks, shapes and matcher indices exact.
"""
from functools import lru_cache

import pytest
import torch

from dab_detr import convert_dab_detr_state_dict
from ops import kernel_available
from projects.checkpoint import WrongCheckpointError
from projects.config import load_config
from tests.dab_detr.capture import capture
from tests.harness.fixture_checks import (
    assert_layer_outputs, assert_official_detections, assert_official_matches_and_losses, assert_single_level_inputs,
)
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import cached_fixture, run_fixture_batch
from tests.harness.model_utils import assert_full_size_conversion, count_trainable
from tests.harness.tolerances import assert_close

VARIANTS = ("dab_detr", "dab_deformable_detr")
IMPLS = [pytest.param("auto", marks=pytest.mark.skipif(not kernel_available("cpu"), reason="needs ops._C")),
         "reference"]


def fixture(variant):
    return cached_fixture("dab_detr", variant)


@lru_cache(maxsize=None)
def traced(variant, impl="reference"):
    """(model, run_fixture_batch result, intermediates under the fixture's names)."""
    model = build_fixture_model("dab_detr", variant, ["MODEL.DAB_DETR.ATTENTION_IMPL", impl])
    run, names = capture(model, lambda: run_fixture_batch(model, fixture(variant)))
    return model, run, names


def stored_intermediates(variant):
    """The fixture's intermediates; the deformable encoder's are stored at the tokens ``encoder.token_index``."""
    return {name.replace("@tok", ""): value for name, value in fixture(variant)["intermediates"].items()
            if name != "encoder.token_index"}


def ours(variant, name, names):
    value = names[name]
    if variant == "dab_deformable_detr" and name.startswith("encoder."):
        value = value[:, fixture(variant)["intermediates"]["encoder.token_index"]]
    if name == "transformer.init_reference":
        value = value[0]  # official: one [Q, 4] shared by the batch
    return value


def test_single_scale_masks_and_positions():
    """Temperature-20 sine positions of the C5 mask (official PositionEmbeddingSineHW)."""
    model, run, _ = traced("dab_detr")
    assert_single_level_inputs(model, run, fixture("dab_detr")["inputs"])


def test_deformable_masks_and_positions():
    model, run, names = traced("dab_deformable_detr")
    inputs = fixture("dab_deformable_detr")["inputs"]
    for (feature, mask), expected_mask, expected_pos in zip(run["levels"], inputs["masks"], inputs["pos"]):
        assert torch.equal(mask, expected_mask)
        assert_close(model.position_embedding(mask), expected_pos)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_intermediate(variant):
    """Encoder memory, anchors per layer, 4-d sine embeddings, query positions, lambda_q, the width/height
    modulation, attention maps, sampling locations and weights, raw layer outputs, decoder states."""
    _, _, names = traced(variant)
    stored = stored_intermediates(variant)
    assert set(stored) <= set(names)
    for name, expected in stored.items():
        value = ours(variant, name, names)
        if expected.dtype == torch.bool or not expected.is_floating_point():
            assert torch.equal(value, expected), name
        elif variant == "dab_deformable_detr" and name == "encoder.memory":
            valid = ~run_levels_mask(variant)  # padded tokens' memory is formula-sensitive (deformable README)
            assert_close(value[valid], expected[valid], msg=name)
        else:
            assert_close(value, expected, msg=name)


def run_levels_mask(variant):
    _, run, _ = traced(variant)
    return run["transformer"].levels.mask[:, fixture(variant)["intermediates"]["encoder.token_index"]]


def test_refined_anchors_are_the_layer_boxes():
    """Deformable README: pred_boxes of layer l equal inter_references[l] (refinement always on)."""
    _, run, _ = traced("dab_deformable_detr")
    inter = fixture("dab_deformable_detr")["intermediates"]["transformer.inter_references"]
    assert_close(run["outputs"]["pred_boxes"], inter[-1])
    assert_close(run["outputs"]["aux_outputs"][0]["pred_boxes"], inter[0])
    assert_close(run["transformer"].references[1], inter[0])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_outputs_of_every_layer(variant, impl):
    _, run, _ = traced(variant, impl)
    assert_layer_outputs(run["outputs"], fixture(variant)["outputs"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_matcher_indices_and_losses(variant):
    model, run, _ = traced(variant)
    assert_official_matches_and_losses(model.criterion, run["outputs"], fixture(variant)["criterion"])
    stored = fixture(variant)["criterion"]["weight_dict"]
    # official DAB-Deformable-DETR also lists _enc weights, for losses it never produces
    assert model.criterion.weight_dict == {k: v for k, v in stored.items() if not k.endswith("_enc")}


@pytest.mark.parametrize("variant", VARIANTS)
def test_postprocess(variant):
    model, run, _ = traced(variant)
    assert model.num_topk_test == len(fixture(variant)["postprocess"][0]["scores"])  # official num_select
    assert_official_detections(run["results"], fixture(variant)["postprocess"])


FULL_SIZE = {"dab_detr": ("configs/dab_detr/dab_detr_r50_50ep.yaml", 590),
             "dab_deformable_detr": ("configs/dab_detr/dab_deformable_detr_r50_50ep.yaml", 604)}


@pytest.mark.parametrize("variant", VARIANTS)
def test_full_size_conversion_is_complete(variant):
    """Every official key of the full-size R50 model is consumed (aliases checked and dropped), every model
    entry filled, shapes and parameter counts equal (main.py's count of trainable parameters too)."""
    config_file, entries = FULL_SIZE[variant]
    cfg = load_config(config_file, ["MODEL.DETR.NUM_CLASSES", "91", "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    from detectron2.modeling import build_model

    model = build_model(cfg)
    info = assert_full_size_conversion(model, "dab_detr", variant, convert_dab_detr_state_dict)
    assert len(info["state_dict"]) == info["num_state_dict_entries"] == entries
    assert count_trainable(model) == info["num_params_requires_grad"]


def test_coco_class_reduction():
    official = fixture("dab_deformable_detr")["state_dict"]
    converted = convert_dab_detr_state_dict(official, coco_to_contiguous=True)
    for layer in (0, 1):
        assert converted[f"class_embed.{layer}.weight"].shape[0] == 80
        # copied rows: bit-identical, hence no tolerance
        assert_close(converted[f"class_embed.{layer}.bias"][0], official[f"class_embed.{layer}.bias"][1], atol=0)


@pytest.mark.parametrize("method,variant,family", [("deformable_detr", "box_refine", "Deformable DETR"),
                                                   ("conditional_detr", "r50", "Conditional DETR"),
                                                   ("detr", "r50", "DETR"), ("dino", "dino_4scale", "DINO")])
def test_other_checkpoints_are_rejected(method, variant, family):
    with pytest.raises(WrongCheckpointError, match=f"looks like a {family} checkpoint"):
        convert_dab_detr_state_dict(cached_fixture(method, variant)["state_dict"])


def test_dab_deformable_is_not_read_as_deformable_detr():
    """A DAB-Deformable-DETR checkpoint has Deformable DETR's keys too; both converters name it alike."""
    from deformable_detr import convert_deformable_detr_state_dict

    with pytest.raises(WrongCheckpointError, match=r"looks like a DAB-DETR checkpoint \(variant dab_deformable_detr\)"):
        convert_deformable_detr_state_dict(fixture("dab_deformable_detr")["state_dict"])

"""Single-scale SMCA equals the official code on every tiny fixture (type1/2/3 = fixed/single/independent).

Weights are loaded through our converter. Tolerances (tests/harness/tolerances.py): 1e-4 on float32 model
outputs and intermediates (the official run and ours differ only in float32 summation order, observed
< 2e-6), 1e-6 on losses; masks, indices and labels exactly.
"""
import pytest
import torch

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from smca import add_smca_config, convert_smca_state_dict
from smca.method import OFFICIAL_SCALE_MODES
from tests.harness.e2e_utils import ROOT
from tests.harness.fixture_checks import (
    assert_layer_outputs, assert_official_detections, assert_official_matches_and_losses, assert_single_level_inputs,
)
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import cached_fixture, model_fixtures, run_fixture_batch
from tests.harness.model_utils import assert_full_size_conversion, count_trainable
from tests.harness.tolerances import assert_close

VARIANTS = [name for method, name in model_fixtures() if method == "smca"]


@pytest.fixture(scope="module", params=VARIANTS)
def case(request):
    """(variant, fixture, model, run) for one official fixture; the run keeps every decoder layer's
    output (before the shared norm) and every layer's predicted offsets."""
    fixture = cached_fixture("smca", request.param)
    model = build_fixture_model("smca", request.param)
    layers = model.transformer.decoder.layers
    run = run_fixture_batch(model, fixture, watch={"layer_outputs": list(layers),
                                                   "offsets": [layer.prior.offset_head for layer in layers]})
    return request.param, fixture, model, run


def test_masks_positions_and_image_sizes(case):
    _, fixture, model, run = case
    assert_single_level_inputs(model, run, fixture["inputs"])
    # the official model reads (W, H) from the targets; ours from the batch
    assert torch.equal(run["image_sizes"].flip(-1), fixture["intermediates"]["h_w"][0])


def test_encoder_memory(case):
    _, fixture, _, run = case
    assert_close(run["transformer"].memory[0].transpose(0, 1), fixture["intermediates"]["encoder_memory"])


def test_every_decoder_layer_output(case):
    _, fixture, _, run = case
    expected = fixture["intermediates"]["decoder_layer_outputs"]
    assert len(run["layer_outputs"]) == len(expected) == 2
    for layer, (ours, theirs) in enumerate(zip(run["layer_outputs"], expected)):
        assert_close(ours[0].transpose(0, 1), theirs, msg=f"layer {layer}")  # a layer returns (tgt, ...)


def test_centres_offsets_scales_and_log_gaussian(case):
    variant, fixture, _, run = case
    inter = fixture["intermediates"]
    assert_close(run["transformer"].center_logits, inter["center_logits"])  # float32 model output
    batch, queries = inter["center_logits"].shape[:2]
    for layer, prior in enumerate(run["transformer"].priors):
        # official layout: [Q, B, 2 * heads] and [Q, B * heads, ...] with index b * heads + h
        assert_close(prior["center"].transpose(0, 1).repeat(1, 1, 8), inter["gaussian_ref"][layer])
        assert_close(run["offsets"][layer].transpose(0, 1), inter["gaussian_offset"][layer])
        assert_close(prior["centers"].transpose(0, 1).reshape(queries, batch * 8, 2), inter["gaussian_center"][layer])
        if variant == "single_scale_type1":
            assert prior["scales"] is None and "gaussian_scale" not in inter
        else:
            expected = inter["gaussian_scale"][layer]
            assert_close(prior["scales"].transpose(0, 1).reshape(expected.shape), expected)
        log_weights = prior["log_weights"][0]  # [B, heads, Q, HW]
        assert_close(log_weights.permute(2, 3, 0, 1).flatten(2), inter["gaussian_logit_bias"][layer])


def test_outputs_of_every_decoder_layer(case):
    _, fixture, _, run = case
    assert_layer_outputs(run["outputs"], fixture["outputs"])


def test_matcher_indices_and_losses(case):
    _, fixture, model, run = case
    assert_official_matches_and_losses(model.criterion, run["outputs"], fixture["criterion"])
    assert model.criterion.weight_dict == fixture["criterion"]["weight_dict"]


def test_postprocess(case):
    _, fixture, _, run = case
    assert_official_detections(run["results"], fixture["postprocess"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_full_size_conversion_is_complete(variant):
    """Every official R50 key is consumed, every model entry filled, shapes and parameter counts equal."""
    cfg = get_cfg()
    add_smca_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs" / "smca" / "smca_single_scale_r50_50ep.yaml"))
    cfg.MODEL.DETR.NUM_CLASSES = 92  # official head: COCO ids 0..90 + no-object column
    cfg.MODEL.SMCA.SCALE_MODE = OFFICIAL_SCALE_MODES[cached_fixture("smca", variant)["args"]["dynamic_scale"]]
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    info = assert_full_size_conversion(model, "smca", variant, convert_smca_state_dict)
    assert count_trainable(model) == info["num_params_trainable"]

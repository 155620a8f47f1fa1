"""DETR equals the official implementation on the tiny fixture (weights loaded through our converter).

Tolerance: 1e-4 on float32 model outputs (tests/tolerances.py); the fixture README expects ~1e-5
between re-implementations on the same CPU build. Losses: 1e-6.
"""
import pytest
import torch

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from projects import add_detr_config
from projects.backbone import downsample_mask
from projects.detr.convert import convert_detr_state_dict
from tests.fixture_models import build_fixture_model
from tests.fixture_utils import cached_fixture, run_fixture_batch
from tests.model_utils import assert_full_size_conversion, count_trainable
from tests.tolerances import LOSS_ATOL, assert_close, assert_same_detections


@pytest.fixture(scope="module")
def fixture():
    return cached_fixture("detr", "r50")


@pytest.fixture(scope="module")
def model():
    return build_fixture_model("detr", "r50")


@pytest.fixture(scope="module")
def run(model, fixture):
    return run_fixture_batch(model, fixture)


def test_pixel_and_level_masks_and_positions(run, fixture, model):
    inputs = fixture["inputs"]
    assert torch.equal(run["pixel_mask"], inputs["pixel_mask"])
    mask = run["levels"][0][1]
    assert torch.equal(mask, inputs["masks"][0])
    assert_close(model.position_embedding(mask), inputs["pos"][0], atol=1e-5)  # sines of exact integers


def test_nearest_mask_rule_differs_from_ceil():
    """Official masks use nearest resizing: 215x471 in a 333x500 batch -> 8 x 16 valid cells of 11x16 (README)."""
    pixel_mask = torch.ones(1, 333, 500, dtype=torch.bool)
    pixel_mask[0, :215, :471] = False
    valid = ~downsample_mask(pixel_mask, (11, 16))[0]
    assert (valid[:, 0].sum().item(), valid[0].sum().item()) == (8, 16)


def test_outputs_every_decoder_layer(run, fixture):
    outputs, expected = run["outputs"], fixture["outputs"]
    assert_close(outputs["pred_logits"], expected["pred_logits"])
    assert_close(outputs["pred_boxes"], expected["pred_boxes"])
    assert len(outputs["aux_outputs"]) == len(expected["aux_outputs"]) == 1
    for ours, theirs in zip(outputs["aux_outputs"], expected["aux_outputs"]):
        assert_close(ours["pred_logits"], theirs["pred_logits"])
        assert_close(ours["pred_boxes"], theirs["pred_boxes"])


def test_matcher_indices_and_losses(model, run, fixture):
    """Matcher indices and losses of our outputs against the official ones (end to end)."""
    targets = fixture["criterion"]["targets"]
    expected = fixture["criterion"]["losses"]
    with torch.no_grad():
        indices = model.criterion.matcher(run["outputs"], targets)
        losses = model.criterion(run["outputs"], targets)
    for (query, target), (exp_query, exp_target) in zip(indices, fixture["criterion"]["indices"]):
        assert torch.equal(query, exp_query) and torch.equal(target, exp_target)
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert_close(losses[name], value, atol=LOSS_ATOL, msg=name)


def test_postprocess(run, fixture):
    for ours, theirs in zip(run["results"], fixture["postprocess"]):
        assert_same_detections(ours, theirs)


def test_full_size_conversion_is_complete():
    """Every official R50 key is consumed, every model entry filled, shapes equal, counts equal."""
    cfg = get_cfg()
    add_detr_config(cfg)
    cfg.merge_from_file("configs/detr/detr_r50_300ep.yaml")
    cfg.MODEL.DETR.NUM_CLASSES = 91  # official head: COCO ids 0..90 + no-object
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    info = assert_full_size_conversion(model, "detr", "r50", convert_detr_state_dict)
    assert count_trainable(model) == info["num_params_requires_grad"]


def test_coco_class_reduction_keeps_no_object_row(fixture):
    converted = convert_detr_state_dict(fixture["state_dict"], coco_to_contiguous=True)
    weight = converted["class_embed.weight"]
    assert weight.shape[0] == 81
    # the converter copies rows: bit-identical, hence no tolerance
    assert_close(weight[-1], fixture["state_dict"]["class_embed.weight"][91], atol=0)
    assert_close(weight[0], fixture["state_dict"]["class_embed.weight"][1], atol=0)  # person = id 1

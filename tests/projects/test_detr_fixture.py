"""DETR equals the official implementation on the tiny fixture (weights loaded through our converter).

Tolerance: 1e-4 on float32 model outputs (brief); the fixture README expects ~1e-5 between
re-implementations on the same CPU build. Losses: 1e-6.
"""
import pytest
import torch

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from projects import DETR, add_detr_config
from projects.backbone import MaskedBackbone, downsample_mask
from projects.checkpoint import check_conversion
from projects.criterion_builder import build_criterion
from projects.detr.convert import convert_detr_state_dict
from projects.detr import make_detr_transformer
from projects.position_encoding import PositionEmbeddingSine
from tests.fixture_utils import load_fixture
from tests.model_utils import StubBackbone, count_parameters, image_batch, official_key_shapes, shape_only_state_dict

OUT_ATOL = 1e-4
LOSS_ATOL = 1e-6


def tiny_cfg(args):
    cfg = get_cfg()
    add_detr_config(cfg)
    detr = cfg.MODEL.DETR
    detr.NUM_CLASSES = args["num_classes"]
    detr.DEC_LAYERS = args["dec_layers"]
    detr.COST_CLASS, detr.COST_BBOX, detr.COST_GIOU = args["set_cost_class"], args["set_cost_bbox"], args["set_cost_giou"]
    detr.L1_WEIGHT, detr.GIOU_WEIGHT, detr.NO_OBJECT_WEIGHT = args["bbox_loss_coef"], args["giou_loss_coef"], args["eos_coef"]
    return cfg


@pytest.fixture(scope="module")
def fixture():
    return load_fixture("detr", "r50")


@pytest.fixture(scope="module")
def model(fixture):
    return build_tiny_detr(fixture)


def build_tiny_detr(fixture):
    """The tiny official DETR, rebuilt with our modules and loaded through our converter."""
    args = fixture["args"]
    inputs = fixture["inputs"]
    backbone = MaskedBackbone(StubBackbone(inputs["features"], inputs["feature_strides"]), ["res5"])
    detr = DETR(
        backbone=backbone, criterion=build_criterion(tiny_cfg(args)),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375],
        transformer=make_detr_transformer(
            d_model=args["hidden_dim"], nhead=args["nheads"], num_encoder_layers=args["enc_layers"],
            num_decoder_layers=args["dec_layers"], dim_feedforward=args["dim_feedforward"], dropout=args["dropout"]),
        position_embedding=PositionEmbeddingSine(args["hidden_dim"] // 2),
        num_classes=args["num_classes"], num_queries=args["num_queries"],
    )
    state = {k: v.float() for k, v in convert_detr_state_dict(fixture["state_dict"]).items()}
    check_conversion(detr.state_dict(), state, ignore=[r"^backbone\."])
    detr.load_state_dict(state, strict=False)
    return detr.eval()


@pytest.fixture(scope="module")
def run(model, fixture):
    return run_fixture_batch(model, fixture)


def run_fixture_batch(model, fixture):
    """Run the model on the fixture batch through the public forward path pieces."""
    inputs = fixture["inputs"]
    images, pixel_mask = model.preprocess_image(image_batch(inputs["image_sizes"].tolist()))
    with torch.no_grad():
        levels = model.backbone(images.tensor, pixel_mask)
        image_sizes = torch.as_tensor(images.image_sizes)
        outputs = model.predict(levels, image_sizes, pixel_mask)
        results = model.inference(outputs, image_sizes)
    return {"pixel_mask": pixel_mask, "levels": levels, "outputs": outputs, "results": results}


def test_pixel_and_level_masks_and_positions(run, fixture, model):
    inputs = fixture["inputs"]
    assert torch.equal(run["pixel_mask"], inputs["pixel_mask"])
    mask = run["levels"][0][1]
    assert torch.equal(mask, inputs["masks"][0])
    pos = model.position_embedding(mask)
    torch.testing.assert_close(pos, inputs["pos"][0], atol=1e-5, rtol=0)


def test_nearest_mask_rule_differs_from_ceil():
    """Official masks use nearest resizing: 215x471 in a 333x500 batch -> 8 x 16 valid cells of 11x16 (README)."""
    pixel_mask = torch.ones(1, 333, 500, dtype=torch.bool)
    pixel_mask[0, :215, :471] = False
    valid = ~downsample_mask(pixel_mask, (11, 16))[0]
    assert (valid[:, 0].sum().item(), valid[0].sum().item()) == (8, 16)


def test_outputs_every_decoder_layer(run, fixture):
    outputs, expected = run["outputs"], fixture["outputs"]
    torch.testing.assert_close(outputs["pred_logits"], expected["pred_logits"], atol=OUT_ATOL, rtol=0)
    torch.testing.assert_close(outputs["pred_boxes"], expected["pred_boxes"], atol=OUT_ATOL, rtol=0)
    assert len(outputs["aux_outputs"]) == len(expected["aux_outputs"]) == 1
    for ours, theirs in zip(outputs["aux_outputs"], expected["aux_outputs"]):
        torch.testing.assert_close(ours["pred_logits"], theirs["pred_logits"], atol=OUT_ATOL, rtol=0)
        torch.testing.assert_close(ours["pred_boxes"], theirs["pred_boxes"], atol=OUT_ATOL, rtol=0)


def test_matcher_indices_and_losses(model, fixture):
    """Losses on the official outputs (criterion proven alone) and on ours (end to end)."""
    targets = fixture["criterion"]["targets"]
    expected = fixture["criterion"]["losses"]
    inputs = fixture["inputs"]
    with torch.no_grad():
        images, pixel_mask = model.preprocess_image(image_batch(inputs["image_sizes"].tolist()))
        outputs = model.predict(model.backbone(images.tensor, pixel_mask), torch.as_tensor(images.image_sizes), pixel_mask)
        indices = model.criterion.matcher(outputs, targets)
        losses = model.criterion(outputs, targets)
    for (query, target), (exp_query, exp_target) in zip(indices, fixture["criterion"]["indices"]):
        assert torch.equal(query, exp_query) and torch.equal(target, exp_target)
    assert set(losses) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(losses[name], value, atol=LOSS_ATOL, rtol=0, msg=name)


def test_postprocess(run, fixture):
    for ours, theirs in zip(run["results"], fixture["postprocess"]):
        torch.testing.assert_close(ours.scores, theirs["scores"], atol=OUT_ATOL, rtol=0)
        assert torch.equal(ours.pred_classes, theirs["labels"])
        torch.testing.assert_close(ours.pred_boxes.tensor, theirs["boxes"], atol=OUT_ATOL, rtol=0)


def test_full_size_conversion_is_complete():
    """Every official R50 key is consumed, every model entry filled, shapes equal, counts equal."""
    key_shapes, info = official_key_shapes("detr", "r50")
    cfg = get_cfg()
    add_detr_config(cfg)
    cfg.merge_from_file("configs/detr/detr_r50_300ep.yaml")
    cfg.MODEL.DETR.NUM_CLASSES = 91  # official head: COCO ids 0..90 + no-object
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    converted = convert_detr_state_dict(shape_only_state_dict(key_shapes))
    check_conversion(model.state_dict(), converted)
    assert count_parameters(model) == info["num_params"]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == info["num_params_requires_grad"]


def test_coco_class_reduction_keeps_no_object_row(fixture):
    converted = convert_detr_state_dict(fixture["state_dict"], coco_to_contiguous=True)
    weight = converted["class_embed.weight"]
    assert weight.shape[0] == 81
    assert torch.equal(weight[-1], fixture["state_dict"]["class_embed.weight"][91])
    assert torch.equal(weight[0], fixture["state_dict"]["class_embed.weight"][1])  # person = id 1

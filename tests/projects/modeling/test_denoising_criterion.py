"""The denoising losses (projects/modeling/denoising/criterion.py) against the official DN-DETR and DINO
criteria: every dn loss from the stored dn outputs, the eval-mode zeros, the weights, and odd batches."""
from pathlib import Path

import pytest
import torch
from torch import nn

from projects.config import default_config
from projects.modeling.denoising import (
    DN_OUTPUTS_KEY,
    DenoisingCriterion,
    TwoStageDenoisingCriterion,
    build_cdn_queries,
    build_denoising_criterion,
    build_dn_queries,
    denoising_weight_dict,
    pack_denoising_outputs,
)
from projects.modeling.matcher import HungarianMatcher

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DN_FIXTURES = ["dn_dab_detr", "dn_dab_deformable_detr"]
# float32 losses of O(1): a few ulp of the official values (sums in another order).
LOSS_ATOL, LOSS_RTOL = 1e-6, 1e-6
# official DN-DETR / DINO box_ops: eps 1e-6 in the GIoU denominators
GIOU_EPS = 1e-6


def load(method, name):
    return torch.load(FIXTURES / method / f"{name}.tiny.pt", map_location="cpu", weights_only=True)


def criterion_for(fixture, dn_style, **extra):
    """The official criterion of the fixture: focal loss, costs 2/5/2, the stored weights."""
    args = fixture["args"]
    matcher = HungarianMatcher(cost_class=args["set_cost_class"], cost_bbox=args["set_cost_bbox"],
                               cost_giou=args["set_cost_giou"], class_cost="focal")
    return DenoisingCriterion(dn_style=dn_style, num_classes=args["num_classes"], matcher=matcher,
                              weight_dict=fixture["criterion"]["weight_dict"], class_loss="focal",
                              focal_alpha=args["focal_alpha"], giou_eps=GIOU_EPS, **extra)


def stacked(dn_outputs):
    """[L, B, P, ...] logits and boxes of the official dn part (aux layers first)."""
    layers = list(dn_outputs.get("aux_outputs", [])) + [dn_outputs]
    return (torch.stack([layer["pred_logits"] for layer in layers]),
            torch.stack([layer["pred_boxes"] for layer in layers]))


def dn_case(name):
    """(fixture, outputs with the dn part of the official forward, targets) of a DN-DETR fixture; the dn
    queries are rebuilt from the stored seed (test_denoising proves them equal to the official ones)."""
    fixture = load("dn_detr", name)
    dn, targets = fixture["dn"], fixture["criterion"]["targets"]
    torch.manual_seed(dn["seed"])
    queries = build_dn_queries(targets, nn.Embedding.from_pretrained(fixture["state_dict"]["label_enc.weight"].float()),
                               num_queries=fixture["args"]["num_queries"], num_groups=dn["scalar"],
                               label_noise_ratio=dn["label_noise_scale"], box_noise_scale=dn["box_noise_scale"],
                               num_classes=fixture["args"]["num_classes"])
    outputs = dict(fixture["outputs"])
    outputs.update(pack_denoising_outputs(dn["mask_dict"]["output_known_class"], dn["mask_dict"]["output_known_coord"],
                                          queries))
    return fixture, outputs, targets


def dino_case():
    fixture = load("dino", "dino_4scale")
    args, targets = fixture["args"], fixture["criterion"]["targets"]
    torch.manual_seed(fixture["dn"]["seed"])
    embedding = nn.Embedding.from_pretrained(fixture["state_dict"]["label_enc.weight"].float())
    queries = build_cdn_queries(targets, embedding, num_queries=args["num_queries"], dn_number=args["dn_number"],
                                label_noise_ratio=args["dn_label_noise_ratio"],
                                box_noise_scale=args["dn_box_noise_scale"], num_classes=args["num_classes"])
    train = fixture["outputs_train"]
    outputs = {key: train[key] for key in ("pred_logits", "pred_boxes", "aux_outputs")}
    outputs.update(pack_denoising_outputs(*stacked(train["dn_meta"]["output_known_lbs_bboxes"]), queries))
    return fixture, outputs, targets


def assert_losses_equal(losses, expected, keys):
    for key in keys:
        assert losses[key].dtype == torch.float32 and losses[key].dim() == 0, key
        torch.testing.assert_close(losses[key], expected[key], atol=LOSS_ATOL, rtol=LOSS_RTOL, msg=key)


@pytest.mark.parametrize("name", DN_FIXTURES)
def test_dn_detr_losses_equal_official(name):
    fixture, outputs, targets = dn_case(name)
    expected = fixture["criterion"]["losses"]
    log_parts = "loss_xy" in expected  # single-scale DN-DAB-DETR logs loss_xy / loss_hw, the deformable one does not
    losses = criterion_for(fixture, "noised", log_box_parts=log_parts).train()(outputs, targets)
    dn_keys = [key for key in expected if key.startswith("tgt_")]
    assert sorted(key for key in losses if key.startswith("tgt_")) == sorted(dn_keys) and len(dn_keys) == 8
    assert_losses_equal(losses, expected, dn_keys)
    assert_losses_equal(losses, expected, expected)  # the matching losses of the same criterion too


def test_dino_losses_equal_official():
    fixture, outputs, targets = dino_case()
    expected = fixture["criterion"]["losses"]
    losses = criterion_for(fixture, "contrastive", log_box_parts=True).train()(outputs, targets)
    dn_keys = [key for key in expected if "_dn" in key]
    assert sorted(key for key in losses if "_dn" in key) == sorted(dn_keys) and len(dn_keys) == 12
    assert_losses_equal(losses, expected, dn_keys)
    matching = [key for key in expected if "_dn" not in key and not key.endswith("_interm")]
    assert_losses_equal(losses, expected, matching)


def test_dino_eval_mode_gives_the_official_zeros():
    fixture, outputs, targets = dino_case()
    expected = {key: value for key, value in fixture["criterion_eval"]["losses"].items() if "_dn" in key}
    losses = criterion_for(fixture, "contrastive", log_box_parts=True).eval()(outputs, targets)
    assert sorted(key for key in losses if "_dn" in key) == sorted(expected)
    for key, value in expected.items():
        assert float(value) == 0.0 and float(losses[key]) == 0.0, key  # exact zeros, official


@pytest.mark.parametrize("name", DN_FIXTURES)
def test_dn_detr_eval_mode_and_missing_dn_give_zeros(name):
    fixture, outputs, targets = dn_case(name)
    dn_keys = sorted(key for key in fixture["criterion"]["losses"] if key.startswith("tgt_"))
    criterion = criterion_for(fixture, "noised")
    without_dn = {key: value for key, value in outputs.items() if key != DN_OUTPUTS_KEY}
    for losses in [criterion.eval()(outputs, targets), criterion.train()(without_dn, targets)]:
        assert sorted(key for key in losses if key.startswith("tgt_")) == dn_keys
        assert all(float(losses[key]) == 0.0 for key in dn_keys)


@pytest.mark.parametrize("style,method,name", [("noised", "dn_detr", "dn_dab_detr"), ("contrastive", "dino", "dino_4scale")])
def test_dn_weights_equal_official(style, method, name):
    fixture = load(method, name)
    args = fixture["args"]
    stored = {key: value for key, value in fixture["criterion"]["weight_dict"].items()
              if key.startswith("tgt_") or "_dn" in key}
    weights = denoising_weight_dict(style, class_weight=args["cls_loss_coef"], bbox_weight=args["bbox_loss_coef"],
                                    giou_weight=args["giou_loss_coef"], num_aux_layers=args["dec_layers"] - 1)
    assert weights == stored


def test_build_from_config_adds_dn_losses_and_weights():
    cfg = default_config()
    cfg.MODEL.DETR.DEC_LAYERS = 3
    cfg.MODEL.DETR.CLASS_WEIGHT = 1.0
    criterion = build_denoising_criterion(cfg, "focal", "contrastive")
    assert type(criterion) is DenoisingCriterion and criterion.dn_style == "contrastive"
    assert criterion.weight_dict["loss_giou_dn_1"] == cfg.MODEL.DETR.GIOU_WEIGHT
    assert "loss_ce_dn_2" not in criterion.weight_dict
    assert criterion.weight_dict["loss_ce"] == 1.0 and criterion.giou_eps == 1e-6 and not criterion.log_box_parts
    two_stage = build_denoising_criterion(cfg, "focal", "noised", two_stage=True, log_box_parts=True)
    assert isinstance(two_stage, TwoStageDenoisingCriterion) and "loss_ce_enc" in two_stage.weight_dict
    assert two_stage.log_box_parts
    assert "tgt_loss_bbox_0" in two_stage.weight_dict
    with pytest.raises(ValueError, match="dn_style"):
        build_denoising_criterion(cfg, "focal", "dn")


# ----- odd batches and gradients -----

TARGETS = [{"labels": torch.tensor([3, 1]), "boxes": torch.tensor([[0.5, 0.5, 0.2, 0.3], [0.3, 0.6, 0.1, 0.2]])},
           {"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)}]


def small_case(style, targets=TARGETS, num_classes=5):
    build = build_dn_queries if style == "noised" else build_cdn_queries
    groups = {"num_groups": 2} if style == "noised" else {"dn_number": 1}
    queries = build(targets, nn.Embedding(num_classes + 1, 8), num_queries=3, label_noise_ratio=0.5,
                    box_noise_scale=0.4, num_classes=num_classes, **groups)
    generator = torch.Generator().manual_seed(0)
    layers, batch = 2, len(targets)
    logits = torch.randn(layers, batch, queries.pad_size + 3, num_classes, generator=generator).requires_grad_()
    boxes = (0.3 + 0.4 * torch.rand(layers, batch, queries.pad_size + 3, 4, generator=generator)).requires_grad_()
    dn_logits, match_logits = logits[:, :, :queries.pad_size], logits[:, :, queries.pad_size:]
    dn_boxes, match_boxes = boxes[:, :, :queries.pad_size], boxes[:, :, queries.pad_size:]
    outputs = {"pred_logits": match_logits[-1], "pred_boxes": match_boxes[-1],
               "aux_outputs": [{"pred_logits": match_logits[0], "pred_boxes": match_boxes[0]}]}
    outputs.update(pack_denoising_outputs(dn_logits, dn_boxes, queries))
    matcher = HungarianMatcher(cost_class=2, cost_bbox=5, cost_giou=2, class_cost="focal")
    weights = denoising_weight_dict(style, class_weight=1, bbox_weight=5, giou_weight=2, num_aux_layers=1)
    criterion = DenoisingCriterion(dn_style=style, num_classes=num_classes, matcher=matcher, weight_dict=weights,
                                   class_loss="focal").train()
    return criterion, outputs, queries, logits, boxes


@pytest.mark.parametrize("style", ["noised", "contrastive"])
def test_dn_gradients_reach_exactly_the_supervised_rows(style):
    criterion, outputs, queries, logits, boxes = small_case(style)
    dn_losses = criterion.weighted_losses(criterion(outputs, TARGETS))
    assert dn_losses and all(torch.isfinite(value) for value in dn_losses.values())
    sum(dn_losses.values()).backward()  # dn weights only: the matching part gets no gradient
    assert logits.grad[:, :, queries.pad_size:].abs().sum() == 0
    assert boxes.grad[:, :, queries.pad_size:].abs().sum() == 0
    supervised = torch.zeros(logits.shape[1:3], dtype=torch.bool)
    supervised[queries.batch_index[queries.positive], queries.query_index[queries.positive]] = True
    box_rows = boxes.grad.abs().sum((0, 3)) > 0
    assert torch.equal(box_rows[:, :queries.pad_size], supervised[:, :queries.pad_size])
    class_rows = logits.grad.abs().sum((0, 3)) > 0
    if style == "noised":  # only the known rows take part in the class loss
        assert torch.equal(class_rows[:, :queries.pad_size], supervised[:, :queries.pad_size])
    else:  # DINO: negatives and padding rows are "no object" in the focal loss
        assert bool(class_rows[:, :queries.pad_size].all())


@pytest.mark.parametrize("style", ["noised", "contrastive"])
def test_batch_without_targets_gives_zero_dn_losses(style):
    empty = [{"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)}] * 2
    criterion, outputs, queries, _, _ = small_case(style, targets=empty)
    assert queries.pad_size == 0
    losses = criterion(outputs, empty)
    dn_keys = [key for key in losses if key.startswith("tgt_") or "_dn" in key]
    # 4 names (dn_detr: ce, class_error, bbox, giou; dino: ce, bbox, giou, cardinality) x 2 layers
    assert len(dn_keys) == 8 and all(float(losses[key]) == 0.0 for key in dn_keys)


def test_dino_dn_normaliser_is_boxes_times_groups():
    criterion, outputs, queries, _, _ = small_case("contrastive")
    losses = criterion(outputs, TARGETS)
    pairs = queries.positive_indices(2)
    manual = criterion.loss_boxes(outputs[DN_OUTPUTS_KEY], TARGETS, pairs, num_boxes=2.0 * queries.num_groups)
    torch.testing.assert_close(losses["loss_bbox_dn"], manual["loss_bbox"], atol=0, rtol=0)  # the same call
    doubled = criterion.loss_boxes(outputs[DN_OUTPUTS_KEY], TARGETS, pairs, num_boxes=2.0)
    assert not torch.allclose(losses["loss_bbox_dn"], doubled["loss_bbox"])

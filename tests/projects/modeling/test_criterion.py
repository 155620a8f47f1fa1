"""SetCriterion (projects/modeling/criterion.py): every official loss of every fixture, plus edge cases."""
import pytest
import torch
import torch.nn.functional as F

from projects.modeling.criterion import (
    SetCriterion,
    TwoStageSetCriterion,
    average_num_boxes,
    make_weight_dict,
    sigmoid_focal_loss,
)
from projects.modeling.matcher import HungarianMatcher
from tests.harness.fixture_checks import assert_same_matches
from tests.harness.fixture_utils import CRITERION_FIXTURE_IDS, CRITERION_FIXTURES, cached_fixture

# The fixture losses are float32 values of O(1) (counts up to 630 for cardinality_error_enc);
# a float32 re-implementation that sums in another order differs by a few ulp.
LOSS_ATOL, LOSS_RTOL = 1e-6, 1e-6


def criterion_for(fixture, class_loss):
    """The criterion the official build() makes for this fixture's args."""
    args = fixture["args"]
    matcher = HungarianMatcher(cost_class=args["set_cost_class"], cost_bbox=args["set_cost_bbox"],
                               cost_giou=args["set_cost_giou"], class_cost=class_loss)
    criterion_cls = TwoStageSetCriterion if args.get("two_stage") else SetCriterion
    return criterion_cls(num_classes=args["num_classes"], matcher=matcher,
                         weight_dict=fixture["criterion"]["weight_dict"], class_loss=class_loss,
                         eos_coef=args.get("eos_coef", 0.1), focal_alpha=args.get("focal_alpha", 0.25))


@pytest.mark.parametrize("method,name,class_loss", CRITERION_FIXTURES, ids=CRITERION_FIXTURE_IDS)
def test_losses_match_official(method, name, class_loss):
    fixture = cached_fixture(method, name)
    expected = fixture["criterion"]["losses"]
    losses = criterion_for(fixture, class_loss)(fixture["outputs"], fixture["criterion"]["targets"])
    assert list(losses) == list(expected)  # same keys, same order as the official criterion
    for key, value in expected.items():
        assert losses[key].dtype == torch.float32 and losses[key].dim() == 0, key
        torch.testing.assert_close(losses[key], value, atol=LOSS_ATOL, rtol=LOSS_RTOL, msg=key)


@pytest.mark.parametrize("method,name,class_loss", CRITERION_FIXTURES, ids=CRITERION_FIXTURE_IDS)
def test_match_reproduces_every_stored_assignment(method, name, class_loss):
    fixture = cached_fixture(method, name)
    stored = fixture["criterion"]
    assert_same_matches(criterion_for(fixture, class_loss).match(fixture["outputs"], stored["targets"]), stored)


@pytest.mark.parametrize("method,name,class_loss", CRITERION_FIXTURES, ids=CRITERION_FIXTURE_IDS)
def test_weight_dict_and_weighted_total(method, name, class_loss):
    fixture = cached_fixture(method, name)
    stored = fixture["criterion"]
    args = fixture["args"]
    rebuilt = make_weight_dict(class_weight=args.get("cls_loss_coef", 1 if class_loss == "softmax" else 2),
                               bbox_weight=args["bbox_loss_coef"], giou_weight=args["giou_loss_coef"],
                               num_aux_layers=len(fixture["outputs"]["aux_outputs"]),
                               # stated by the fixture: official Deformable DETR adds _enc weights even without two-stage
                               with_enc="loss_ce_enc" in stored["weight_dict"])
    assert rebuilt == stored["weight_dict"]
    criterion = criterion_for(fixture, class_loss)
    expected_total = sum(stored["losses"][k] * w for k, w in stored["weight_dict"].items() if k in stored["losses"])
    # Weighted sum of ~10 float32 values of O(1) (weights <= 5): a few ulp of ~20.
    torch.testing.assert_close(criterion.total_loss(stored["losses"]), expected_total, atol=1e-5, rtol=0)
    weighted = criterion.weighted_losses(stored["losses"])
    assert "class_error" not in weighted and "cardinality_error" not in weighted
    assert set(weighted) == set(stored["weight_dict"]) & set(stored["losses"])


def test_empty_weight_matches_official_detr():
    fixture = cached_fixture("detr", "r50")
    criterion = criterion_for(fixture, "softmax")
    # [1, ..., 1, eos_coef]: constants, no arithmetic, hence no tolerance
    torch.testing.assert_close(criterion.empty_weight, fixture["criterion"]["empty_weight"], atol=0, rtol=0)
    assert "empty_weight" not in criterion.state_dict()  # derived from eos_coef, not checkpointed


def test_precomputed_indices_are_used():
    fixture = cached_fixture("deformable_detr", "single_scale")
    criterion = criterion_for(fixture, "focal")
    outputs, targets = fixture["outputs"], fixture["criterion"]["targets"]
    indices = criterion.match(outputs, targets)
    torch.testing.assert_close(criterion(outputs, targets, indices=indices)["loss_bbox"],
                               fixture["criterion"]["losses"]["loss_bbox"], atol=LOSS_ATOL, rtol=LOSS_RTOL)
    shifted = {suffix: [((query + 1) % 30, target) for query, target in layer]
               for suffix, layer in indices.items()}
    assert not torch.allclose(criterion(outputs, targets, indices=shifted)["loss_bbox"],
                              fixture["criterion"]["losses"]["loss_bbox"], atol=1e-3, rtol=0)


def test_plain_criterion_ignores_encoder_outputs():
    fixture = cached_fixture("deformable_detr", "two_stage")
    args = dict(fixture["args"], two_stage=False)
    criterion = criterion_for({**fixture, "args": args}, "focal")
    losses = criterion(fixture["outputs"], fixture["criterion"]["targets"])
    assert not any(key.endswith("_enc") for key in losses)


def random_outputs(batch=2, num_queries=6, num_logits=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {
        "pred_logits": torch.randn(batch, num_queries, num_logits, generator=generator).requires_grad_(),
        "pred_boxes": (0.2 + 0.6 * torch.rand(batch, num_queries, 4, generator=generator)).requires_grad_(),
        "aux_outputs": [{"pred_logits": torch.randn(batch, num_queries, num_logits, generator=generator),
                         "pred_boxes": 0.2 + 0.6 * torch.rand(batch, num_queries, 4, generator=generator)}],
    }


def small_criterion(class_loss, num_classes=4):
    matcher = HungarianMatcher(cost_class=2, cost_bbox=5, cost_giou=2, class_cost=class_loss)
    weights = make_weight_dict(class_weight=2, bbox_weight=5, giou_weight=2, num_aux_layers=1)
    return SetCriterion(num_classes=num_classes, matcher=matcher, weight_dict=weights, class_loss=class_loss)


@pytest.mark.parametrize("class_loss", ["softmax", "focal"])
def test_batch_without_targets(class_loss):
    criterion = small_criterion(class_loss)
    outputs = random_outputs()
    empty = {"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)}
    losses = criterion(outputs, [empty, empty])
    assert all(torch.isfinite(value) for value in losses.values())
    # sums over no matched boxes, and 100 - 0 (official: accuracy of an empty match counts as 0): exact
    for name, value in [("loss_bbox", 0.0), ("loss_giou", 0.0), ("class_error", 100.0)]:
        torch.testing.assert_close(losses[name], torch.tensor(value), atol=0, rtol=0, msg=name)
    logits = outputs["pred_logits"].detach()
    if class_loss == "softmax":  # all queries target no-object: every weight is eos_coef -> plain mean CE
        expected_ce = F.cross_entropy(logits.flatten(0, 1), torch.full((12,), 4))
    else:  # all-zero one-hot, normalised by the clamped box count 1
        expected_ce = sigmoid_focal_loss(logits, torch.zeros_like(logits), num_boxes=1.0)
    torch.testing.assert_close(losses["loss_ce"], expected_ce, atol=1e-6, rtol=1e-6)  # float32, same math
    criterion.total_loss(losses).backward()
    assert outputs["pred_logits"].grad.abs().sum() > 0


@pytest.mark.parametrize("class_loss", ["softmax", "focal"])
def test_losses_are_differentiable_and_logs_are_not(class_loss):
    criterion = small_criterion(class_loss)
    outputs = random_outputs(seed=1)
    targets = [{"labels": torch.tensor([1, 3]), "boxes": torch.tensor([[0.5, 0.5, 0.2, 0.3], [0.3, 0.6, 0.1, 0.2]])},
               {"labels": torch.tensor([0]), "boxes": torch.tensor([[0.4, 0.4, 0.3, 0.3]])}]
    losses = criterion(outputs, targets)
    assert not losses["class_error"].requires_grad and not losses["cardinality_error"].requires_grad
    assert "class_error_0" not in losses and "loss_ce_0" in losses
    criterion.total_loss(losses).backward()
    assert outputs["pred_logits"].grad.abs().sum() > 0 and outputs["pred_boxes"].grad.abs().sum() > 0


def test_focal_loss_equals_textbook_formula():
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 7, 3, generator=generator, dtype=torch.float64)
    targets = (torch.rand(2, 7, 3, generator=generator) > 0.7).double()
    prob = logits.sigmoid()
    # Lin et al. eq. 5: -alpha_t (1 - p_t)^gamma log(p_t)
    expected = -(targets * 0.25 * (1 - prob) ** 2 * prob.log()
                 + (1 - targets) * 0.75 * prob ** 2 * (1 - prob).log()).sum() / 4.0
    # float64, identical math: only rounding differences.
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets, num_boxes=4.0), expected, atol=1e-12, rtol=1e-12)


def test_num_boxes_is_clamped_to_one():
    empty = {"labels": torch.zeros(0, dtype=torch.int64)}
    # box counts: integers held in floats, exact
    assert average_num_boxes([empty, empty], torch.device("cpu")) == 1.0
    assert average_num_boxes([{"labels": torch.zeros(3)}, {"labels": torch.zeros(5)}], torch.device("cpu")) == 8.0


def _average_num_boxes_worker(rank, init_file, results):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        targets = [{"labels": torch.zeros(3 if rank == 0 else 6)}]
        results[rank] = average_num_boxes(targets, torch.device("cpu"))
    finally:
        torch.distributed.destroy_process_group()


def test_num_boxes_is_averaged_across_workers(tmp_path):
    context = torch.multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        results = manager.dict()
        workers = [context.Process(target=_average_num_boxes_worker, args=(rank, tmp_path / "init", results))
                   for rank in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
            if worker.is_alive():
                worker.terminate()
        averaged = dict(results)
    assert averaged == {0: 4.5, 1: 4.5}  # (3 + 6) / 2 workers, on every worker (exact in binary)


def test_invalid_settings_raise():
    matcher = HungarianMatcher()
    with pytest.raises(ValueError, match="class_loss"):
        SetCriterion(num_classes=3, matcher=matcher, weight_dict={}, class_loss="sigmoid")
    with pytest.raises(ValueError, match="unknown losses"):
        SetCriterion(num_classes=3, matcher=matcher, weight_dict={}, losses=("labels", "masks"))

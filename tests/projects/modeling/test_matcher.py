"""HungarianMatcher (projects/modeling/matcher.py): official matcher indices of every fixture, edge cases."""
import itertools

import pytest
import torch

from projects.modeling.matcher import HungarianMatcher
from tests.harness.fixture_utils import CRITERION_FIXTURE_IDS, CRITERION_FIXTURES, cached_fixture


def matcher_for(fixture, class_cost):
    args = fixture["args"]
    return HungarianMatcher(cost_class=args["set_cost_class"], cost_bbox=args["set_cost_bbox"],
                            cost_giou=args["set_cost_giou"], class_cost=class_cost)


def assert_same_indices(actual, expected):
    assert len(actual) == len(expected)
    for (query, target), (expected_query, expected_target) in zip(actual, expected):
        assert query.dtype == torch.int64 and target.dtype == torch.int64
        assert torch.equal(query, expected_query) and torch.equal(target, expected_target)


@pytest.mark.parametrize("method,name,class_cost", CRITERION_FIXTURES, ids=CRITERION_FIXTURE_IDS)
def test_matches_official_indices(method, name, class_cost):
    fixture = cached_fixture(method, name)
    matcher = matcher_for(fixture, class_cost)
    outputs, targets = fixture["outputs"], fixture["criterion"]["targets"]
    # Assignments are integers: they must equal the official ones exactly.
    assert_same_indices(matcher(outputs, targets), fixture["criterion"]["indices"])
    for aux_outputs, expected in zip(outputs["aux_outputs"], fixture["criterion"].get("indices_aux", [])):
        assert_same_indices(matcher(aux_outputs, targets), expected)


def random_problem(num_queries, sizes, num_logits, seed):
    generator = torch.Generator().manual_seed(seed)
    outputs = {
        "pred_logits": torch.randn(len(sizes), num_queries, num_logits, generator=generator),
        "pred_boxes": 0.2 + 0.6 * torch.rand(len(sizes), num_queries, 4, generator=generator),
    }
    targets = [
        {"labels": torch.randint(0, num_logits - 1, (n,), generator=generator),
         "boxes": 0.2 + 0.6 * torch.rand(n, 4, generator=generator)}
        for n in sizes
    ]
    return outputs, targets


@pytest.mark.parametrize("class_cost", ["softmax", "focal"])
def test_assignment_is_optimal_by_brute_force(class_cost):
    matcher = HungarianMatcher(cost_class=2, cost_bbox=5, cost_giou=2, class_cost=class_cost)
    outputs, targets = random_problem(num_queries=5, sizes=[3], num_logits=4, seed=0)
    (query, target), = matcher(outputs, targets)
    cost = matcher.cost_matrix(outputs["pred_logits"][0], outputs["pred_boxes"][0],
                               targets[0]["labels"], targets[0]["boxes"])
    best = min(sum(cost[q, t] for t, q in enumerate(rows)) for rows in itertools.permutations(range(5), 3))
    # Same float32 entries summed in another order: equal up to rounding.
    assert float(cost[query, target].sum()) == pytest.approx(float(best), abs=1e-5)


def test_query_indices_sorted_and_one_to_one():
    matcher = HungarianMatcher(cost_class=1, cost_bbox=5, cost_giou=2)
    outputs, targets = random_problem(num_queries=10, sizes=[4, 7], num_logits=6, seed=1)
    for (query, target), t in zip(matcher(outputs, targets), targets):
        assert len(query) == len(target) == len(t["labels"])
        assert torch.equal(query, query.sort().values)
        assert len(set(query.tolist())) == len(query) and sorted(target.tolist()) == list(range(len(target)))


def test_more_targets_than_queries_matches_every_query():
    matcher = HungarianMatcher(cost_class=1, cost_bbox=5, cost_giou=2)
    outputs, targets = random_problem(num_queries=3, sizes=[5], num_logits=6, seed=2)
    (query, target), = matcher(outputs, targets)
    assert query.tolist() == [0, 1, 2] and len(set(target.tolist())) == 3


@pytest.mark.parametrize("class_cost", ["softmax", "focal"])
def test_images_without_targets(class_cost):
    matcher = HungarianMatcher(cost_class=1, cost_bbox=5, cost_giou=2, class_cost=class_cost)
    outputs, targets = random_problem(num_queries=6, sizes=[0, 2, 0], num_logits=5, seed=3)
    indices = matcher(outputs, targets)
    assert [len(query) for query, _ in indices] == [0, 2, 0]
    assert all(q.dtype == torch.int64 and t.dtype == torch.int64 for q, t in indices)
    outputs, targets = random_problem(num_queries=6, sizes=[0, 0], num_logits=5, seed=4)
    assert [(len(q), len(t)) for q, t in matcher(outputs, targets)] == [(0, 0), (0, 0)]


def test_invalid_settings_raise():
    with pytest.raises(ValueError, match="class_cost"):
        HungarianMatcher(class_cost="sigmoid")
    with pytest.raises(ValueError, match="non-zero"):
        HungarianMatcher(cost_class=0, cost_bbox=0, cost_giou=0)

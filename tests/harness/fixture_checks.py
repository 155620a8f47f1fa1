"""Assertions shared by the fixture-equivalence tests: a run of our model (tests.harness.fixture_utils.run_fixture_batch)
against what the official implementation stored. Tolerances: tests/harness/tolerances.py."""
import torch

from tests.harness.tolerances import LOSS_ATOL, assert_close, assert_same_detections


def assert_single_level_inputs(model, run, inputs):
    """Pixel mask and level mask exactly; the level's sine position embedding within 1e-5 (sines of exact
    integers). For single-level models (DETR, Conditional DETR, single-scale SMCA)."""
    assert torch.equal(run["pixel_mask"], inputs["pixel_mask"])
    mask = run["levels"][0][1]
    assert torch.equal(mask, inputs["masks"][0])
    assert_close(model.position_embedding(mask), inputs["pos"][0], atol=1e-5)


def assert_layer_outputs(outputs, expected):
    """pred_logits and pred_boxes of the last decoder layer and of every aux layer."""
    assert len(outputs["aux_outputs"]) == len(expected["aux_outputs"])
    for ours, theirs in [(outputs, expected), *zip(outputs["aux_outputs"], expected["aux_outputs"])]:
        assert_close(ours["pred_logits"], theirs["pred_logits"])
        assert_close(ours["pred_boxes"], theirs["pred_boxes"])


def stored_matches(criterion_fixture):
    """The stored matcher indices by loss suffix: "" (last layer), "_0", ... (aux layers), "_enc" (two-stage)."""
    stored = {"": criterion_fixture["indices"]}
    stored.update({f"_{i}": aux for i, aux in enumerate(criterion_fixture.get("indices_aux", []))})
    if "indices_enc" in criterion_fixture:
        stored["_enc"] = criterion_fixture["indices_enc"]
    return stored


def assert_same_matches(indices, criterion_fixture):
    """``indices`` ({suffix: [(query, target) per image]}, as SetCriterion.match gives) equal the stored ones
    (every layer the fixture stored; some fixtures store the last layer's only)."""
    stored = stored_matches(criterion_fixture)
    assert set(stored) <= set(indices)
    for suffix, layer in stored.items():
        assert len(indices[suffix]) == len(layer)
        for (query, target), (expected_query, expected_target) in zip(indices[suffix], layer):
            assert torch.equal(query, expected_query) and torch.equal(target, expected_target), suffix


def assert_official_matches_and_losses(criterion, outputs, criterion_fixture):
    """The criterion on our ``outputs``: the stored matcher indices exactly, every loss within LOSS_ATOL."""
    targets, expected = criterion_fixture["targets"], criterion_fixture["losses"]
    with torch.no_grad():
        indices = criterion.match(outputs, targets)
        losses = criterion(outputs, targets)
    assert_same_matches(indices, criterion_fixture)
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert_close(losses[name], value, atol=LOSS_ATOL, msg=name)


def assert_official_detections(results, postprocess):
    """Our Instances against the stored post-processed detections of every image, in any order among
    near-ties (the official SMCA even keeps its top-k unsorted)."""
    assert len(results) == len(postprocess)
    for ours, theirs in zip(results, postprocess):
        assert_same_detections(ours, theirs)

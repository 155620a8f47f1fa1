"""Deformable DETR's attention recorder (deformable_detr/attention_figures.py): the sampling locations and
weights the op received, and the two-stage proposals, taken from the model's own forward pass."""
import pytest
import torch

import ops.modules
from tests.harness.attention_utils import SUM_TOLERANCE, embedded_val_image, recorded


@pytest.fixture(scope="module")
def image(small_embedded_root):
    return embedded_val_image(small_embedded_root)


@pytest.mark.parametrize("config_name", ["deformable_detr_embedded", "deformable_detr_two_stage_embedded"])
def test_deformable_sampling_equals_what_the_op_received(config_name, image, monkeypatch):
    calls = []
    original = ops.modules.ms_deform_attn

    def recording_op(value, shapes, starts, locations, weights, **kwargs):
        calls.append((locations, weights))
        return original(value, shapes, starts, locations, weights, **kwargs)

    monkeypatch.setattr(ops.modules, "ms_deform_attn", recording_op)
    model, recorder, _ = recorded(config_name, image, pixels=[(30, 30)])
    record = recorder.records["decoder"]
    locations, weights = calls[-1]  # the last call is the last decoder layer's
    # the same module function on the same inputs: equal up to float32 rounding
    torch.testing.assert_close(record["locations"], locations, atol=1e-6, rtol=0)
    torch.testing.assert_close(record["weights"], weights, atol=1e-6, rtol=0)
    attention = model.transformer.decoder.layers[-1].cross_attn
    batch, queries, heads, levels, points = record["weights"].shape
    assert (batch, heads, levels, points) == (1, attention.n_heads, attention.n_levels, attention.n_points)
    assert record["locations"].shape == (*record["weights"].shape, 2)
    assert record["reference"].shape[:3] == (1, queries, levels)
    per_head = record["weights"].flatten(3).sum(-1)
    torch.testing.assert_close(per_head, torch.ones_like(per_head), **SUM_TOLERANCE)
    encoder_calls = len(model.transformer.encoder.layers)
    torch.testing.assert_close(recorder.records["encoder"]["locations"], calls[encoder_calls - 1][0], atol=1e-6, rtol=0)
    if model.transformer.two_stage:
        assert recorder.records["proposal_index"].shape == (1, queries)
    else:
        assert recorder.records["proposal_index"] is None

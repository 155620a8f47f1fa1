"""DINO's attention recorder (dino/attention_figures.py): the sampling the op received for the selected
queries, the anchors mixed query selection chose, and the denoising groups of the figure."""
import matplotlib.pyplot as plt
import pytest
import torch

import ops.modules
from projects.visualization.attention import ImageView, top_detections
from tests.harness.attention_utils import SUM_TOLERANCE, embedded_val_image, recorded


@pytest.fixture(scope="module")
def image(small_embedded_root):
    return embedded_val_image(small_embedded_root)


@pytest.fixture(scope="module")
def run(image):
    return recorded("dino_embedded", image, pixels=[(30, 30)])


def test_sampling_equals_what_the_op_received(image, monkeypatch):
    calls = []
    original = ops.modules.ms_deform_attn

    def recording_op(value, shapes, starts, locations, weights, **kwargs):
        calls.append((locations, weights))
        return original(value, shapes, starts, locations, weights, **kwargs)

    monkeypatch.setattr(ops.modules, "ms_deform_attn", recording_op)
    model, recorder, _ = recorded("dino_embedded", image, pixels=[(30, 30)])
    record = recorder.records["decoder"]
    # the same module function on the same inputs: equal up to float32 rounding
    torch.testing.assert_close(record["locations"], calls[-1][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(record["weights"], calls[-1][1], atol=1e-6, rtol=0)
    attention = model.transformer.decoder.layers[-1].cross_attn
    batch, queries, heads, levels, points = record["weights"].shape
    assert (batch, queries, heads, levels, points) == (1, model.transformer.num_queries, attention.n_heads,
                                                       attention.n_levels, attention.n_points)
    assert record["reference"].shape == (1, queries, levels, 4)  # 4-d anchors
    per_head = record["weights"].flatten(3).sum(-1)
    torch.testing.assert_close(per_head, torch.ones_like(per_head), **SUM_TOLERANCE)
    encoder_calls = len(model.transformer.encoder.layers)
    torch.testing.assert_close(recorder.records["encoder"]["locations"], calls[encoder_calls - 1][0], atol=1e-6, rtol=0)


def test_anchors_are_the_selected_proposals(run):
    model, recorder, _ = run
    enc = recorder.outputs["interm_outputs"]
    # the decoder's initial anchors are the selected proposal boxes, detached (same values)
    torch.testing.assert_close(recorder.records["anchors"], enc["pred_boxes"], atol=0, rtol=0)
    assert recorder.records["proposal_index"].shape == (1, model.transformer.num_queries)


def test_denoising_groups_of_the_figure(run, image):
    model, recorder, _ = run
    detections = top_detections(recorder.outputs, model.class_loss, 3)
    view = ImageView(image, recorder.input_hw)
    names = [name for name, figure in recorder.figures(view, detections, {})]
    plt.close("all")
    assert names[:3] == ["det0", "det1", "det2"] and {"encoder_pixel0", "anchors", "denoising"} <= set(names)
    queries = recorder.records["denoising"]
    targets = recorder.records["denoising_targets"]
    assert queries.contrastive and queries.group_size == 2 * len(targets)
    assert queries.pad_size == queries.num_groups * queries.group_size <= 2 * model.denoising.num_groups
    assert queries.attn_mask.shape == (queries.pad_size + model.transformer.num_queries,) * 2
    assert int(queries.positive.sum()) == queries.num_groups * len(targets)
    again = recorder.denoising_groups(detections)  # a fixed seed: the same figure every time
    assert torch.equal(again.labels, queries.labels) and torch.equal(again.boxes, queries.boxes)

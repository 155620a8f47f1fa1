"""tools/visualize_attention.py and the recorders: figures for every method, and intermediates with
the documented shapes and meaning, taken from the model's own forward pass."""
from pathlib import Path

import pytest
import torch

import ops.modules
from projects.layers.misc import merge_heads, split_heads
from projects.visualization import BatchPredictor
from projects.visualization.attention import build_recorder, top_detections
from tests.tools.tool_utils import QUICKSTART, load_tool, read_rgb, tiny_opts
from train_net import load_config

visualize_attention = load_tool("visualize_attention")
METHOD_CONFIGS = sorted(QUICKSTART.glob("*.yaml"))
SUM_TOLERANCE = dict(atol=1e-5, rtol=0)  # float32 softmax sums over at most a few hundred entries


def recorded(config_name, image, pixels=(), extra=()):
    """(model, recorder, instances) after one forward pass of the tiny random model of a quickstart config."""
    config = QUICKSTART / f"{config_name}.yaml"
    torch.manual_seed(0)
    predictor = BatchPredictor(load_config(str(config), [*tiny_opts(config), *extra]))
    with torch.no_grad():  # the official init gives every query the same offsets and weights: make them differ
        for module in predictor.model.modules():
            if isinstance(module, ops.modules.MSDeformAttn):
                module.sampling_offsets.weight.normal_(std=0.5)
                module.attention_weights.weight.normal_(std=0.5)
    recorder = build_recorder(predictor.model, pixels)
    with recorder.recording(predictor.model):
        instances = predictor([image])[0]
    return predictor.model, recorder, instances


@pytest.fixture(scope="module")
def image(val_pngs):
    return read_rgb(val_pngs[0])  # INPUT.FORMAT is RGB in every quickstart config


@pytest.mark.parametrize("config", METHOD_CONFIGS, ids=[c.stem for c in METHOD_CONFIGS])
def test_every_method_writes_its_figures(config, val_pngs, tmp_path):
    pixel = ["--pixel", "60,50"] if "smca" not in config.stem and "conditional" not in config.stem else []
    written = visualize_attention.main(["--config-file", str(config), "--input", val_pngs[0], "--output",
                                        str(tmp_path), "--top-k", "1", *pixel, *tiny_opts(config)])
    assert written and all(Path(p).parent == tmp_path for p in written)
    for path in written:
        figure = read_rgb(path)
        assert figure.shape[0] > 100 and figure.std() > 10  # a drawn figure, not a blank canvas


def test_top_k_zero_and_bad_pixel_end_with_one_line(val_pngs, tmp_path):
    base = ["--config-file", str(QUICKSTART / "detr_embedded.yaml"), "--input", val_pngs[0], "--output", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"^error: --top-k must be at least 1, got 0$"):
        visualize_attention.main([*base, "--top-k", "0"])
    with pytest.raises(SystemExit) as raised:
        visualize_attention.main([*base, "--pixel", "12"])
    assert raised.value.code == 2  # argparse's own one-line usage error


@pytest.mark.parametrize("config_name", ["detr_embedded", "deformable_detr_embedded"])
def test_detections_are_the_model_s_own(config_name, image):
    model, recorder, instances = recorded(config_name, image)
    detections = top_detections(recorder.outputs, model.select_box, 5)
    expected = instances.scores.sort(descending=True).values[:5]
    # the model's inference scores, selected again from the same logits by the same functions
    torch.testing.assert_close(torch.tensor([d.score for d in detections]), expected, atol=1e-6, rtol=0)
    for detection in detections:
        assert torch.equal(detection.box, recorder.outputs["pred_boxes"][0, detection.query])


def test_detr_attention_weights(image):
    model, recorder, _ = recorded("detr_embedded", image, pixels=[(10, 10)])
    height, width = recorder.records["feature_hw"]
    heads, queries = model.transformer.decoder.layers[-1].multihead_attn.num_heads, model.query_embed.num_embeddings
    decoder, encoder = recorder.records["decoder"], recorder.records["encoder"]
    assert decoder.shape == (1, heads, queries, height * width)
    assert encoder.shape == (1, heads, height * width, height * width)
    for weights in (decoder, encoder):
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), **SUM_TOLERANCE)


def test_conditional_detr_spatial_and_combined_attention(image):
    captured = {}
    model, recorder, _ = recorded("conditional_detr_embedded", image)
    layer = model.transformer.decoder.layers[-1]
    layer.cross_attn.register_forward_hook(lambda m, args, out: captured.update(value=args[2], output=out))
    recorder = build_recorder(model)
    with recorder.recording(model), torch.no_grad():
        model([{"image": torch.as_tensor(image.transpose(2, 0, 1).copy()), "height": 64, "width": 64}])
    combined, spatial = recorder.records["combined"], recorder.records["spatial"]
    height, width = recorder.records["feature_hw"]
    assert combined.shape == spatial.shape == (1, layer.cross_attn.num_heads, model.query_embed.num_embeddings,
                                                height * width)
    for weights in (combined, spatial):
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), **SUM_TOLERANCE)
    assert not torch.allclose(combined, spatial, atol=1e-3)
    # "combined" is what the layer used: it reproduces the layer's output (float32 model output tolerance)
    value = split_heads(captured["value"], layer.cross_attn.num_heads)
    rebuilt = layer.cross_attn.out_proj(merge_heads(combined @ value))
    torch.testing.assert_close(rebuilt, captured["output"], atol=1e-4, rtol=1e-4)


def nearest_cell(center, axis):
    """Index of the grid value in ``axis`` [W] nearest to each center [...]: where a Gaussian peaks."""
    return (center[..., None] - axis).abs().argmin(-1)


@pytest.mark.parametrize("config_name", ["smca_single_scale_embedded", "smca_multi_scale_embedded"])
def test_smca_gaussians_peak_at_their_centres(config_name, image):
    model, recorder, _ = recorded(config_name, image)
    unit, strides = recorder.records["unit_stride"], recorder.records["strides"]
    for prior in recorder.records["priors"]:
        centers = prior["centers"][0]  # [Q, G, 2]
        for level, log_weights in enumerate(prior["log_weights"]):
            height, width = recorder.records["level_hw"][level]
            groups, queries = log_weights.shape[1:3]
            assert log_weights.shape == (1, groups, queries, height * width)
            peak = log_weights[0].reshape(groups, queries, height, width).flatten(2).argmax(-1)  # [G, Q]
            factor = strides[level] / unit
            xs, ys = torch.arange(width) * factor, torch.arange(height) * factor
            expected = nearest_cell(centers[..., 1], ys) * width + nearest_cell(centers[..., 0], xs)  # [Q, G]
            assert torch.equal(peak, expected.T)


@pytest.mark.parametrize("config_name", ["smca_single_scale_embedded", "smca_multi_scale_embedded"])
def test_smca_co_attention_and_scale_weights(config_name, image):
    model, recorder, _ = recorded(config_name, image)
    layers = model.transformer.decoder.layers
    for index, prior in enumerate(recorder.records["priors"]):
        levels = recorder.records["co_attention"][index]
        assert len(levels) == len(recorder.records["level_hw"])
        for weights, (height, width) in zip(levels, recorder.records["level_hw"]):
            assert weights.shape == (1, layers[index].multihead_attn.nhead, model.query_embed.num_embeddings,
                                     height * width)
            torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), **SUM_TOLERANCE)
        alpha = prior["scale_weights"]
        if len(levels) > 1:
            assert alpha.shape == (1, model.query_embed.num_embeddings, len(levels))
            torch.testing.assert_close(alpha.sum(-1), torch.ones(alpha.shape[:-1]), **SUM_TOLERANCE)


def test_smca_multi_scale_co_attention_is_what_the_layer_used(image):
    """sum_l alpha_l (P_l @ v_l), through out_proj, reproduces the layer's own co-attention output."""
    model, _, _ = recorded("smca_multi_scale_embedded", image)
    attention = model.transformer.decoder.layers[-1].multihead_attn
    captured = {"values": []}
    for projection in attention.v_projs:
        projection.register_forward_hook(lambda m, args, out: captured["values"].append(out))
    attention.register_forward_hook(lambda m, args, out: captured.update(output=out, alpha=args[4]))
    recorder = build_recorder(model)
    with recorder.recording(model), torch.no_grad():
        model([{"image": torch.as_tensor(image.transpose(2, 0, 1).copy())}])
    probabilities = recorder.records["co_attention"][len(model.transformer.decoder.layers) - 1]
    alpha = captured["alpha"].transpose(1, 2)[..., None]  # [B, L, Q, 1]
    mixed = sum(alpha[:, None, level] * (p @ split_heads(v, attention.nhead))
                for level, (p, v) in enumerate(zip(probabilities, captured["values"])))
    torch.testing.assert_close(attention.out_proj(merge_heads(mixed)), captured["output"], atol=1e-4, rtol=1e-4)


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

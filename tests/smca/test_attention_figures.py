"""SMCA's attention recorder (smca/attention_figures.py): the Gaussian-like priors, the co-attention per
level and the scale-selection weights, taken from the model's own forward pass."""
import pytest
import torch

from projects.layers.misc import merge_heads, split_heads
from projects.visualization.attention import build_recorder
from tests.harness.attention_utils import SUM_TOLERANCE, embedded_val_image, recorded

CONFIGS = ["smca_single_scale_embedded", "smca_multi_scale_embedded"]


@pytest.fixture(scope="module")
def image(small_embedded_root):
    return embedded_val_image(small_embedded_root)


def nearest_cell(center, axis):
    """Index of the grid value in ``axis`` [W] nearest to each center [...]: where a Gaussian peaks."""
    return (center[..., None] - axis).abs().argmin(-1)


@pytest.mark.parametrize("config_name", CONFIGS)
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


@pytest.mark.parametrize("config_name", CONFIGS)
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

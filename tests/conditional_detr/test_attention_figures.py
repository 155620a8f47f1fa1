"""Conditional DETR's attention recorder (conditional_detr/attention_figures.py): spatial and combined
cross-attention of the last decoder layer, taken from the model's own forward pass."""
import pytest
import torch

from projects.layers.misc import merge_heads, split_heads
from projects.visualization.attention import build_recorder
from tests.harness.attention_utils import SUM_TOLERANCE, embedded_val_image, recorded


@pytest.fixture(scope="module")
def image(small_embedded_root):
    return embedded_val_image(small_embedded_root)


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

"""DETR's attention recorder (projects/detr/attention_figures.py): the last layers' attention weights
with the documented shapes, taken from the model's own forward pass."""
import pytest
import torch

from tests.harness.attention_utils import SUM_TOLERANCE, embedded_val_image, recorded


@pytest.fixture(scope="module")
def image(small_embedded_root):
    return embedded_val_image(small_embedded_root)


def test_detr_attention_weights(image):
    model, recorder, _ = recorded("detr_embedded", image, pixels=[(10, 10)])
    height, width = recorder.records["feature_hw"]
    heads, queries = model.transformer.decoder.layers[-1].multihead_attn.num_heads, model.query_embed.num_embeddings
    decoder, encoder = recorder.records["decoder"], recorder.records["encoder"]
    assert decoder.shape == (1, heads, queries, height * width)
    assert encoder.shape == (1, heads, height * width, height * width)
    for weights in (decoder, encoder):
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), **SUM_TOLERANCE)

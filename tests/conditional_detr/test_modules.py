"""Unit checks of the Conditional DETR building blocks and the reference-point sine embedding."""
import math

import torch
import torch.nn.functional as F

from conditional_detr import make_conditional_detr_transformer
from projects.layers.boxes import boxes_from_reference
from projects.layers.conditional_attention import PreProjectedAttention, concat_per_head
from projects.layers.sine_embedding import sine_embed_coordinates


def test_sine_embedding_matches_formula_float64():
    """Channel 2i / 2i+1 of a coordinate c: sin / cos(2*pi*c / 10000^(2i/F)); y half first, then x."""
    points = torch.tensor([[0.25, 0.8], [0.0, 1.0]], dtype=torch.float64)
    feats = 8
    embed = sine_embed_coordinates(points, feats)
    assert embed.shape == (2, 2 * feats)
    for row, (x, y) in enumerate(points.tolist()):
        for half, value in enumerate((y, x)):
            for i in range(feats // 2):
                angle = 2 * math.pi * value / 10000 ** (2 * i / feats)
                # float64 inputs; the frequencies are float32 (as official), hence 1e-6
                assert abs(embed[row, half * feats + 2 * i].item() - math.sin(angle)) < 1e-6
                assert abs(embed[row, half * feats + 2 * i + 1].item() - math.cos(angle)) < 1e-6


def test_sine_embedding_of_boxes_orders_y_x_w_h():
    boxes = torch.rand(3, 5, 4)
    embed = sine_embed_coordinates(boxes, 16)
    expected = [sine_embed_coordinates(boxes[..., [i, i]], 16)[..., :16] for i in (1, 0, 2, 3)]
    # sin/cos of the same float32 values in tensors of other shapes (vectorised vs scalar tails): 1e-6
    torch.testing.assert_close(embed, torch.cat(expected, dim=-1), atol=1e-6, rtol=0)


def test_concat_per_head_interleaves_heads():
    content = torch.arange(8.0).view(1, 1, 8)
    spatial = -torch.arange(8.0).view(1, 1, 8)
    joined = concat_per_head(content, spatial, num_heads=2)
    # values only move (small integers, no arithmetic): exact
    assert joined.view(-1).tolist() == [0, 1, 2, 3, -0.0, -1, -2, -3, 4, 5, 6, 7, -4, -5, -6, -7]


def test_attention_equals_reference_and_ignores_padding():
    torch.manual_seed(0)
    attention = PreProjectedAttention(value_dim=8, num_heads=2)
    query, key, value = torch.randn(2, 3, 16), torch.randn(2, 5, 16), torch.randn(2, 5, 8)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[1, 3:] = True
    probs = attention.attention_probs(query, key, mask)
    assert not probs[1, :, :, 3:].any()  # padded keys get exactly zero weight (exp(-inf) = 0 on any machine)
    heads = lambda x: x.view(2, -1, 2, x.shape[-1] // 2).transpose(1, 2)  # noqa: E731
    reference = F.scaled_dot_product_attention(heads(query), heads(key), heads(value), attn_mask=~mask[:, None, None])
    reference = attention.out_proj(reference.transpose(1, 2).reshape(2, 3, 8))
    torch.testing.assert_close(attention(query, key, value, mask), reference, atol=1e-6, rtol=0)  # float32 order


def test_boxes_start_at_reference_points():
    """A zero box offset gives a box centred on the reference point with w = h = sigmoid(0)."""
    reference = torch.tensor([[[0.2, 0.7], [1e-7, 1.0]]])
    boxes = boxes_from_reference(torch.zeros(2, 1, 2, 4), reference)
    torch.testing.assert_close(boxes[..., :2], reference.expand(2, -1, -1, -1), atol=2e-5, rtol=0)  # eps 1e-5 clamp at 0 and 1
    torch.testing.assert_close(boxes[..., 2:], torch.full((2, 1, 2, 2), 0.5), atol=1e-6, rtol=0)  # sigmoid(0), float32


def test_only_first_decoder_layer_has_query_position_projection():
    transformer = make_conditional_detr_transformer(d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=3,
                                                    dim_feedforward=16)
    layers = transformer.decoder.layers
    assert [layer.is_first for layer in layers] == [True, False, False]
    keys = transformer.state_dict().keys()
    assert "decoder.layers.0.ca_qpos_proj.weight" in keys
    assert not any(k.startswith(("decoder.layers.1.ca_qpos_proj", "decoder.layers.2.ca_qpos_proj")) for k in keys)
    out = transformer(torch.randn(2, 32, 3, 4), torch.zeros(2, 3, 4, dtype=torch.bool),
                      torch.randn(5, 32), torch.randn(2, 32, 3, 4))
    hs, reference = out.hs, out.references
    assert hs.shape == (3, 2, 5, 32) and reference.shape == (2, 5, 2)
    assert ((reference > 0) & (reference < 1)).all()

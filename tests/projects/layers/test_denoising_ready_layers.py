"""The shared decoder pieces DAB-DETR and the denoising methods use: self-attention masks (True = blocked)
in the conditional and deformable decoder layers, the PReLU FFN, and the sine temperature of the image
positions."""
import torch
from torch import nn

from projects.layers.conditional_attention import PreProjectedAttention
from projects.layers.conditional_decoder_layer import ConditionalDecoderLayer
from projects.layers.position_encoding import build_position_encoding
from projects.layers.transformer import FeedForward


def blocked_pairs_mask(num_queries):
    """Queries 0..1 (a denoising group) may not see queries 2.. and the other way round."""
    mask = torch.zeros(num_queries, num_queries, dtype=torch.bool)
    mask[:2, 2:] = True
    mask[2:, :2] = True
    return mask


def test_attention_mask_gives_blocked_pairs_zero_probability():
    torch.manual_seed(0)
    attention = PreProjectedAttention(8, 2)
    query, key = torch.randn(3, 5, 8), torch.randn(3, 5, 8)
    probs = attention.attention_probs(query, key, attn_mask=blocked_pairs_mask(5))
    assert torch.equal(probs[:, :, :2, 2:], torch.zeros_like(probs[:, :, :2, 2:]))  # exp(-inf) is exactly 0
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 2, 5), atol=1e-6, rtol=0)


def test_a_masked_query_does_not_change_the_others():
    """With the mask, the outputs of queries 2.. do not depend on queries 0..1 (what denoising relies on)."""
    torch.manual_seed(0)
    layer = ConditionalDecoderLayer(16, 2, dim_feedforward=32, dropout=0.0).eval()
    tgt, query_pos, sine = torch.randn(1, 5, 16), torch.randn(1, 5, 16), torch.randn(1, 5, 16)
    memory, pos = torch.randn(1, 7, 16), torch.randn(1, 7, 16)
    padding = torch.zeros(1, 7, dtype=torch.bool)
    mask = blocked_pairs_mask(5)
    out = layer(tgt, memory, padding, pos, query_pos, sine, mask)
    changed = tgt.clone()
    changed[:, :2] += 1.0
    out_changed = layer(changed, memory, padding, pos, query_pos, sine, mask)
    torch.testing.assert_close(out[:, 2:], out_changed[:, 2:], atol=1e-6, rtol=0)  # float32 rounding only
    assert (out[:, :2] - out_changed[:, :2]).abs().max() > 1e-3


def test_prelu_ffn_has_the_official_parameter():
    ffn = FeedForward(8, 16, 0.0, "prelu")
    assert isinstance(ffn.activation, nn.PReLU)
    assert [name for name, _ in ffn.named_parameters() if "activation" in name] == ["activation.weight"]
    x = torch.randn(4, 8)
    expected = ffn.linear2(torch.nn.functional.prelu(ffn.linear1(x), ffn.activation.weight))
    torch.testing.assert_close(ffn(x), expected, atol=0, rtol=0)  # the same ops: bit-identical


def test_position_temperature():
    """DAB-DETR's PositionEmbeddingSineHW: temperature 20 instead of 10000, otherwise DETR's encoding."""
    mask = torch.zeros(1, 3, 4, dtype=torch.bool)
    hot, default = build_position_encoding("sine", 8, temperature=20)(mask), build_position_encoding("sine", 8)(mask)
    # channels 0 (y) and 4 (x) are the sines of divisor temperature ** 0 = 1 in both encodings
    torch.testing.assert_close(hot[:, 0::4], default[:, 0::4], atol=1e-6, rtol=0)
    assert (hot - default).abs().max() > 1e-2

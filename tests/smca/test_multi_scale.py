"""Multi-scale SMCA as the paper describes it: each property checked on its own (no official fixture exists).

Tolerances: "unchanged" checks compare two runs of the same float32 ops on the same values with 1e-6
(identical in practice; the tolerance only allows for SIMD/threading differences), while reading the
perturbed (+1) tensor would move outputs by O(1); sums of softmax weights use 1e-6 (float32 rounding
of a few terms).
"""
import pytest
import torch

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from projects.modeling.backbone import downsample_mask
from projects.layers.transformer import TransformerEncoderLayer
from smca import add_smca_config
from smca.co_attention import ScaleSelectionAttention
from smca.encoder import SMCAEncoder
from smca.spatial_prior import GaussianPrior, level_axes
from tests.harness.e2e_utils import ROOT, tiny_cfg
from tests.harness.fixture_models import build_with_stub_backbone
from tests.harness.fixture_utils import image_batch
from tests.harness.model_utils import count_parameters
from tests.harness.tolerances import assert_close

SUM_ATOL = 1e-6
SAME_ATOL = 1e-6  # the same float32 ops on the same values, run twice


def build_small_multi_scale(scale_selection=True, head_shared=False):
    """The quickstart multi-scale SMCA at tiny sizes (32 channels, 4 heads, 10 queries, the paper's five
    encoder blocks), random init, on stub features for strides 16 and 32 (a 320 x 384 padded batch)."""
    cfg = tiny_cfg("configs/quickstart/smca_multi_scale_embedded.yaml",
                   extra=["MODEL.DETR.ENC_LAYERS", 5,
                          "MODEL.SMCA.ENCODER_BLOCKS", ["intra", "intra", "multi", "intra", "intra"],
                          "MODEL.SMCA.SCALE_SELECTION", scale_selection, "MODEL.SMCA.HEAD_SHARED", head_shared])
    generator = torch.Generator().manual_seed(0)
    features = [torch.randn(2, c, h, w, generator=generator) for c, (h, w) in ((32, (10, 12)), (64, (5, 6)))]
    return build_with_stub_backbone(cfg, features, [16, 32])


def level_inputs(sizes=(12, 6, 3), channels=16, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    srcs = [torch.randn(batch, s, channels, generator=generator) for s in sizes]
    pos = [torch.randn(batch, s, channels, generator=generator) for s in sizes]
    masks = [torch.zeros(batch, s, dtype=torch.bool) for s in sizes]
    masks[0][1, -2:] = True
    return srcs, masks, pos


def encoder(blocks):
    torch.manual_seed(0)
    return SMCAEncoder(TransformerEncoderLayer(16, 4, 32, dropout=0.0), blocks).eval()


def test_intra_block_shares_one_layer_across_scales():
    stack = encoder(["intra"])
    srcs, masks, pos = level_inputs()
    outputs = stack(srcs, masks, pos)
    layer = stack.layers[0]
    for src, mask, p, out in zip(srcs, masks, pos, outputs):
        assert_close(out, layer(src, padding_mask=mask, pos=p), atol=SAME_ATOL)  # the same weights on every scale
    # parameters: one layer per block, whatever the number of scales
    assert count_parameters(stack) == count_parameters(layer)


def test_intra_block_confined_to_its_scale_multi_block_is_not():
    srcs, masks, pos = level_inputs()
    perturbed = [srcs[0] + 1.0] + srcs[1:]
    intra = encoder(["intra", "intra"])
    before, after = intra(srcs, masks, pos), intra(perturbed, masks, pos)
    assert not torch.allclose(before[0], after[0], atol=1e-3)
    assert_close(before[1], after[1], atol=SAME_ATOL)
    assert_close(before[2], after[2], atol=SAME_ATOL)
    mixed = encoder(["intra", "multi", "intra"])
    before, after = mixed(srcs, masks, pos), mixed(perturbed, masks, pos)
    assert not torch.allclose(before[1], after[1], atol=1e-3) and not torch.allclose(before[2], after[2], atol=1e-3)


def test_encoder_rejects_unknown_blocks():
    with pytest.raises(ValueError, match="intra"):
        encoder(["intra", "cross"])


def attention_inputs(attention, levels=(12, 6, 3), batch=2, queries=5, channels=16, seed=1):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, queries, channels, generator=generator)
    keys = [torch.randn(batch, s, channels, generator=generator) for s in levels]
    values = [torch.randn(batch, s, channels, generator=generator) for s in levels]
    biases = [-torch.rand(batch, attention.nhead, queries, s, generator=generator) for s in levels]
    return query, keys, values, biases


def test_decoder_attention_per_scale_output_reads_only_its_scale():
    torch.manual_seed(0)
    attention = ScaleSelectionAttention(16, 4, num_levels=3).eval()
    query, keys, values, biases = attention_inputs(attention)
    before = attention.level_outputs(query, keys, values, biases)
    keys[0], values[0] = keys[0] + 1.0, values[0] - 1.0
    after = attention.level_outputs(query, keys, values, biases)
    assert not torch.allclose(before[0], after[0], atol=1e-3)
    assert_close(before[1], after[1], atol=SAME_ATOL)
    assert_close(before[2], after[2], atol=SAME_ATOL)
    assert len(attention.k_projs) == len(attention.v_projs) == 3  # per-scale key/value projections


def constant_value_attention(shared_projections=False):
    """Attention whose value projection of level j outputs the constant j + 1 in every channel."""
    torch.manual_seed(0)
    attention = ScaleSelectionAttention(16, 4, num_levels=3, shared_projections=shared_projections).eval()
    with torch.no_grad():
        for level, proj in enumerate(attention.v_projs):
            proj.weight.zero_()
            proj.bias.fill_(level + 1.0)
        attention.out_proj.weight.copy_(torch.eye(16))
        attention.out_proj.bias.zero_()
    return attention


def test_softmax_within_each_scale_and_weighted_sum():
    """Per scale the weights sum to one (constant values come out unchanged); then sum_j alpha_j C_j."""
    attention = constant_value_attention()
    query, keys, values, biases = attention_inputs(attention)
    for level, output in enumerate(attention.level_outputs(query, keys, values, biases)):
        assert_close(output, torch.full_like(output, level + 1.0), atol=SUM_ATOL)
    alpha = torch.rand(2, 5, 3).softmax(-1)
    output = attention(query, keys, values, biases, alpha)
    expected = (alpha * torch.tensor([1.0, 2.0, 3.0])).sum(-1, keepdim=True).expand_as(output)
    assert_close(output, expected, atol=SUM_ATOL)


def test_without_scale_selection_one_softmax_spans_all_scales():
    """Joint softmax: the output is a convex mix of all scales' values, weights from the logits."""
    attention = constant_value_attention(shared_projections=True)
    query, keys, values, biases = attention_inputs(attention)
    biases = [torch.zeros_like(b) for b in biases]
    biases[2] = torch.full_like(biases[2], float("-inf"))  # scale 2 masked out entirely
    biases[1][..., 1:] = float("-inf")  # one token left in scale 1
    output = attention(query, keys, values, biases, None)
    assert len(attention.v_projs) == 1  # shared projection: each level's value is 1
    assert_close(output, torch.ones_like(output), atol=SUM_ATOL)


def test_scale_weights_sum_to_one_per_query():
    model = build_small_multi_scale().eval()
    layer = model.transformer.decoder.layers[0]
    features = torch.randn(2, 10, 32)
    alpha = layer.scale_weights(features)
    assert alpha.shape == (2, 10, 3) and bool((alpha > 0).all())
    assert_close(alpha.sum(-1), torch.ones(2, 10), atol=SUM_ATOL)
    assert build_small_multi_scale(scale_selection=False).transformer.decoder.layers[0].scale_weights(features) is None


def test_one_gaussian_covers_the_same_image_region_on_every_scale():
    """Centres and grids are in stride-32 units: stride-16 cell (2x, 2y) and stride-64 cell (x/2, y/2)
    sit where stride-32 cell (x, y) is, so they get the same log G."""
    prior = GaussianPrior(16, 4, "independent")
    features, center = torch.randn(1, 3, 16), torch.rand(1, 3, 2) * 4
    axes = [level_axes(16, 16, stride, 32, "cpu") for stride in (16, 32, 64)]
    fine, middle, coarse = (lw.view(1, 4, 3, 16, 16) for lw in prior(features, center, axes)[0])
    # the same float32 formula at the same coordinates on grids of other sizes: equal up to rounding
    torch.testing.assert_close(fine[..., 0:8:2, 0:8:2], middle[..., 0:4, 0:4], atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(coarse[..., 0:2, 0:2], middle[..., 0:4:2, 0:4:2], atol=1e-5, rtol=1e-6)


def test_levels_strides_and_extra_level_mask():
    model = build_small_multi_scale().eval()
    images, pixel_mask = model.preprocess_image(image_batch([(320, 384), (150, 180)]))
    levels = model.backbone(images.tensor, pixel_mask)
    srcs, masks, strides = model.input_levels(levels, pixel_mask)
    assert strides == [16, 32, 64]
    assert [tuple(s.shape[-2:]) for s in srcs] == [(10, 12), (5, 6), (3, 3)]
    assert torch.equal(masks[2], downsample_mask(pixel_mask, (3, 3)))  # nearest rule, as every level
    assert bool(masks[2][1].any()) and not bool(masks[2][0].any())


def test_gradient_reaches_every_block():
    model = build_small_multi_scale().train()
    images, pixel_mask = model.preprocess_image(image_batch([(320, 384), (150, 180)]))
    levels = model.backbone(images.tensor, pixel_mask)
    outputs = model.predict(levels, torch.as_tensor(images.image_sizes), pixel_mask)
    targets = [{"labels": torch.tensor([1, 3]), "boxes": torch.tensor([[0.3, 0.4, 0.2, 0.3], [0.7, 0.6, 0.3, 0.2]])},
               {"labels": torch.tensor([0]), "boxes": torch.tensor([[0.5, 0.5, 0.4, 0.4]])}]
    sum(model.losses(outputs, targets).values()).backward()
    no_gradient = {name for name, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)}
    # At init the first decoder layer's self-attention reads tgt = 0 with zero-initialised biases, so its
    # value path is exactly zero (as in DETR): these three weights get their first gradient after one step.
    assert no_gradient == {"transformer.decoder.layers.0.self_attn.in_proj_weight",
                           "transformer.decoder.layers.0.self_attn.out_proj.weight",
                           "transformer.decoder.layers.0.norm1.weight"}
    prefix = "transformer.encoder.layers."
    blocks = {name.split(".")[3] for name, _ in model.named_parameters() if name.startswith(prefix)}
    assert blocks == {"0", "1", "2", "3", "4"}


def test_head_shared_prior_has_one_centre_and_scale_for_all_heads():
    model = build_small_multi_scale(head_shared=True).eval()
    prior = model.transformer.decoder.layers[0].prior
    assert prior.offset_head is None and prior.scale_head.out_features == 2
    images, pixel_mask = model.preprocess_image(image_batch([(320, 384), (150, 180)]))
    with torch.no_grad():
        out = model.run_transformer(model.backbone(images.tensor, pixel_mask), torch.as_tensor(images.image_sizes),
                                    pixel_mask)
    first = out.priors[0]
    assert first["centers"].shape == (2, 10, 1, 2) and [lw.shape[1] for lw in first["log_weights"]] == [1, 1, 1]
    assert torch.isfinite(out.hs).all()


def full_size_trainable(**smca_overrides):
    cfg = get_cfg()
    add_smca_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs" / "smca" / "smca_multi_scale_r50_50ep.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    for key, value in smca_overrides.items():
        setattr(cfg.MODEL.SMCA, key, value)
    model = build_model(cfg)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_full_size_parameter_count_against_the_paper():
    """Paper Table 3: 39.5M (2Intra-Multi-2Intra); Table 4: 40M. Per-scale key/value projections (our
    default) add 6 layers x 2 extra scales x 2 x 65,792 = 1,579,008 over one shared projection."""
    per_scale, shared = full_size_trainable(), full_size_trainable(SHARED_SCALE_PROJECTIONS=True)
    assert per_scale == 41_007_144 and per_scale - shared == 6 * 2 * 2 * (256 * 256 + 256)
    assert abs(shared - 39.5e6) / 39.5e6 < 0.005  # shared projections: 39.43M, within 0.2% of Table 3

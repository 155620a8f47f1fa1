"""MSDeformAttn: official state-dict layout, initialisation, sampling geometry (official fixtures),
padding mask, and kernel/reference agreement."""
import math

import pytest
import torch

import ops
from ops import MSDeformAttn, set_reference_mode
from tests.ops.inputs import FIXTURE_DIR, level_layout

OFFICIAL_KEYS = [  # official order and shapes for d_model 64, 4 levels, 8 heads, 4 points
    ("sampling_offsets.weight", (256, 64)), ("sampling_offsets.bias", (256,)),
    ("attention_weights.weight", (128, 64)), ("attention_weights.bias", (128,)),
    ("value_proj.weight", (64, 64)), ("value_proj.bias", (64,)),
    ("output_proj.weight", (64, 64)), ("output_proj.bias", (64,)),
]


def _module_inputs(attention, batch=2, queries=7, levels=((6, 8), (3, 4), (2, 2), (1, 1)), seed=0):
    generator = torch.Generator().manual_seed(seed)
    spatial_shapes, level_start_index = level_layout(levels)
    tokens = int(spatial_shapes.prod(1).sum())
    return dict(
        query=torch.randn(batch, queries, attention.d_model, generator=generator),
        reference_points=torch.rand(batch, queries, len(levels), 2, generator=generator),
        input_flatten=torch.randn(batch, tokens, attention.d_model, generator=generator),
        input_spatial_shapes=spatial_shapes,
        input_level_start_index=level_start_index,
    )


def test_state_dict_matches_official_layout():
    attention = MSDeformAttn(d_model=64)
    assert [(key, tuple(value.shape)) for key, value in attention.state_dict().items()] == OFFICIAL_KEYS


def test_official_initialisation():
    torch.manual_seed(0)
    attention = MSDeformAttn(d_model=64, n_levels=2, n_heads=8, n_points=3)
    offsets = attention.sampling_offsets.bias.view(8, 2, 3, 2)
    assert torch.equal(attention.sampling_offsets.weight, torch.zeros_like(attention.sampling_offsets.weight))
    # Head 1 points along 45 degrees: (1, 1) after dividing by the larger component; point p at p + 1.
    torch.testing.assert_close(offsets[1, 1, 2], torch.tensor([3.0, 3.0]))  # float32 cos/sin rounding only
    torch.testing.assert_close(offsets[4, 0, 1], torch.tensor([-2.0, 0.0]), atol=1e-6, rtol=0)
    assert torch.equal(offsets[:, 0], offsets[:, 1])  # the same pattern on every level
    assert not attention.attention_weights.weight.any() and not attention.attention_weights.bias.any()
    for projection in (attention.value_proj, attention.output_proj):
        assert not projection.bias.any()
        bound = math.sqrt(6.0 / (64 + 64))  # xavier_uniform
        assert 0.5 * bound < projection.weight.abs().max() <= bound


@pytest.mark.parametrize("variant, layer", [("multi_scale", 0), ("multi_scale", 1), ("box_refine", 1)])
def test_sampling_geometry_matches_official(variant, layer):
    """Locations and weights of the official decoder cross-attention (2-d references, and 4-d box
    references in box_refine layer 1), from the official weights and captured inputs."""
    fixture = torch.load(FIXTURE_DIR / f"{variant}.tiny.pt", weights_only=True)
    inter = fixture["intermediates"]
    prefix = f"transformer.decoder.layers.{layer}.cross_attn."
    attention = MSDeformAttn(d_model=64, n_levels=4, n_heads=8, n_points=4)
    attention.load_state_dict({key[len(prefix):]: value.float() for key, value in fixture["state_dict"].items()
                               if key.startswith(prefix)})
    query = inter[f"decoder.layers.{layer}.after_self_attn"] + inter["decoder.in.query_pos"]  # official: tgt + pos
    reference_points = inter[f"decoder.layers.{layer}.reference_points_input"]
    with torch.no_grad():
        locations, weights = attention.sampling_locations_and_weights(
            query, reference_points, inter["transformer.spatial_shapes"])
    # float32, the official operations in the official order: equal up to 1e-6.
    torch.testing.assert_close(locations, inter[f"decoder.layers.{layer}.cross_attn.sampling_locations"],
                               rtol=0, atol=1e-6)
    torch.testing.assert_close(weights, inter[f"decoder.layers.{layer}.cross_attn.attention_weights"],
                               rtol=0, atol=1e-6)


def test_padded_tokens_do_not_matter():
    torch.manual_seed(0)
    attention = MSDeformAttn(d_model=32, n_levels=4, n_heads=4, n_points=2)
    inputs = _module_inputs(attention)
    mask = torch.zeros(inputs["input_flatten"].shape[:2], dtype=torch.bool)
    mask[1, 5:20] = True
    changed = dict(inputs, input_flatten=inputs["input_flatten"].masked_fill(mask[..., None], 1e3))
    with torch.no_grad():
        output = attention(**inputs, input_padding_mask=mask)
        output_changed = attention(**changed, input_padding_mask=mask)
        output_unmasked = attention(**changed)
    assert output.shape == (2, 7, 32)
    torch.testing.assert_close(output, output_changed, rtol=0, atol=0)  # padded values are zeroed exactly
    assert not torch.allclose(output_unmasked[1], output[1])


@pytest.mark.parametrize("reference_dim", [2, 4])
def test_kernel_and_reference_paths_agree(reference_dim):
    assert ops.kernel_available("cpu"), "ops._C is not built: run `pip install --no-build-isolation -e .`"
    torch.manual_seed(0)
    attention = MSDeformAttn(d_model=32, n_levels=4, n_heads=4, n_points=3)
    with torch.no_grad():  # leave the initial pattern so that samples spread and weights differ
        attention.sampling_offsets.weight.normal_(0, 0.1)
        attention.attention_weights.weight.normal_(0, 0.1)
    inputs = _module_inputs(attention)
    if reference_dim == 4:
        inputs["reference_points"] = torch.cat([inputs["reference_points"], 0.3 * torch.rand_like(
            inputs["reference_points"])], -1)
    results = []
    for use_reference in (False, True):
        assert set_reference_mode(attention, use_reference) == 1
        attention.zero_grad()
        output = attention(**inputs)
        output.square().sum().backward()
        results.append([output.detach()] + [parameter.grad.clone() for parameter in attention.parameters()])
    for kernel, reference in zip(*results):
        # float32 model outputs and parameter gradients: 1e-4 (the project's model tolerance).
        torch.testing.assert_close(kernel, reference, rtol=1e-4, atol=1e-4)


def test_constructor_flag_and_validation():
    assert MSDeformAttn(d_model=16, n_heads=4, use_reference=True).use_reference
    with pytest.raises(ValueError, match="divisible"):
        MSDeformAttn(d_model=30, n_heads=8)
    attention = MSDeformAttn(d_model=16, n_levels=4, n_heads=4, n_points=2)
    inputs = _module_inputs(attention)
    inputs["reference_points"] = torch.rand(2, 7, 4, 3)
    with pytest.raises(ValueError, match="2 or 4"):
        attention(**inputs)

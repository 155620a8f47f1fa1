"""The CPU kernel against the reference: float32 at a real encoder shape, reduced precision,
mixed dtypes, and input validation."""
import pytest
import torch

import ops
from tests.ops.inputs import (ENCODER_LEVELS, INPUT_NAMES, differentiable_copy, kernel,
                              max_error_ratio, output_and_grads, random_inputs)


@pytest.fixture(autouse=True)
def require_kernel():
    assert ops.kernel_available("cpu"), "ops._C is not built: run `pip install --no-build-isolation -e .`"


def test_float32_encoder_shape_matches_reference():
    """Deformable DETR encoder of one 512x512 image: 5440 queries, 8 heads, 32 channels, 4 points."""
    inputs = random_inputs(ENCODER_LEVELS, batch=1, heads=8, channels=32, queries=5440, points=4,
                           dtype=torch.float32, seed=7)
    grad_output = torch.randn(1, 5440, 256, generator=torch.Generator().manual_seed(8))
    compiled = output_and_grads(kernel, differentiable_copy(inputs), grad_output)
    reference = output_and_grads(ops.ms_deform_attn_reference, differentiable_copy(inputs), grad_output)
    for actual, expected in zip(compiled, reference):
        # float32 sums of at most 16 samples x 4 corners (forward) or of every query hitting a
        # pixel (value gradient), in another order than grid_sample: well below 1e-5 of the scale.
        assert max_error_ratio(actual, expected) < 1e-5


@pytest.mark.parametrize("dtype, tolerance", [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
def test_reduced_precision_accumulates_in_float32(dtype, tolerance):
    """float16/bfloat16 inputs: results equal the float64 reference on the same (rounded) inputs up
    to about one final rounding (2^-11 resp. 2^-8 relative), so the accumulation is not in dtype."""
    inputs = random_inputs(((12, 10), (6, 5)), batch=2, heads=2, channels=16, queries=30, points=4, dtype=dtype)
    grad_output = torch.randn(2, 30, 32, dtype=torch.float64).to(dtype)
    compiled = output_and_grads(kernel, differentiable_copy(inputs), grad_output)
    reference = output_and_grads(ops.ms_deform_attn_reference, differentiable_copy(inputs, dtype=torch.float64),
                                 grad_output)
    for actual, expected in zip(compiled, reference):
        assert actual.dtype == dtype
        assert max_error_ratio(actual, expected) < tolerance


def test_mixed_dtypes_keep_float32_locations():
    """A float16 value with float32 locations/weights: output float16, location gradient float32."""
    inputs = random_inputs(((8, 8),), batch=1, heads=2, channels=8, queries=10, points=2, dtype=torch.float32)
    inputs["value"] = inputs["value"].half()
    copy = differentiable_copy(inputs)
    output = ops.ms_deform_attn(*(copy[name] for name in INPUT_NAMES))
    output.float().sum().backward()
    assert output.dtype == torch.float16
    assert copy["sampling_locations"].grad.dtype == torch.float32
    expected = ops.ms_deform_attn_reference(*(inputs[name].double() if inputs[name].is_floating_point()
                                              else inputs[name] for name in INPUT_NAMES))
    assert max_error_ratio(output, expected) < 2e-3  # one float16 rounding of a float32 result


def test_other_dtype_combinations_are_promoted():
    inputs = random_inputs(((5, 4),), batch=1, heads=1, channels=3, queries=4, points=2, dtype=torch.float32)
    inputs["sampling_locations"] = inputs["sampling_locations"].double()
    output = ops.ms_deform_attn(*(inputs[name] for name in INPUT_NAMES))
    assert output.dtype == torch.float64


def test_kernel_is_used_and_equals_reference_through_entry_point():
    inputs = random_inputs(((9, 11), (5, 6)), batch=2, heads=4, channels=6, queries=12, points=3)
    kernel_copy, reference_copy = differentiable_copy(inputs), differentiable_copy(inputs)
    output = ops.ms_deform_attn(*(kernel_copy[name] for name in INPUT_NAMES))
    expected = ops.ms_deform_attn(*(reference_copy[name] for name in INPUT_NAMES), use_reference=True)
    # The operator's autograd is the C++ torch::autograd::Function registered for the Autograd key.
    assert "MSDeformAttnFunction" in output.grad_fn.name()
    assert "MSDeformAttnFunction" not in expected.grad_fn.name()
    torch.testing.assert_close(output, expected, rtol=1e-12, atol=1e-12)  # float64


def test_empty_query_set():
    inputs = random_inputs(((4, 4),), batch=2, heads=2, channels=3, queries=0, points=2)
    copy = differentiable_copy(inputs)
    output = kernel(*(copy[name] for name in INPUT_NAMES))
    output.sum().backward()
    assert output.shape == (2, 0, 6)
    assert torch.equal(copy["value"].grad, torch.zeros_like(inputs["value"]))


@pytest.mark.parametrize("corrupt, message", [
    (lambda x: x.update(value=x["value"][:, :-1]), "tokens"),
    (lambda x: x.update(level_start_index=x["level_start_index"] + 1), "tokens"),
    (lambda x: x.update(attention_weights=x["attention_weights"][..., :1]), "attention_weights"),
    (lambda x: x.update(spatial_shapes=x["spatial_shapes"][:1]), "spatial_shapes"),
])
def test_inconsistent_inputs_raise(corrupt, message):
    inputs = random_inputs(((4, 4), (2, 2)), batch=1, heads=2, channels=3, queries=3, points=2)
    corrupt(inputs)
    with pytest.raises(ValueError, match=message):
        ops.ms_deform_attn(*(inputs[name] for name in INPUT_NAMES))

"""At exact pixel centres the CPU kernel takes the location gradient from the cell that
loc * size - 0.5, with the product and the difference each rounded, selects (the CUDA kernel does
the same: see test_ms_deform_attn_cuda.py). A fused multiply-add would move some points to the
neighbouring cell, whose gradient differs by O(1)."""
import pytest
import torch

import ops
from tests.ops.inputs import INPUT_NAMES, differentiable_copy, kernel
from tests.ops.pixel_centres import (WIDTHS, cells_and_counts, expected_location_gradient, fused_cells,
                                     pixel_centre_inputs, unfused_cells)

# float64 results agree to rounding (1e-10 of the scale); float32 to 1e-4 (16-channel sums scaled by
# W <= 152). Another cell would be off by about the value scale times W.
TOLERANCES = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-4, atol=1e-3)}


def assert_pixel_centre_gradients(dtype: torch.dtype) -> None:
    """The kernel's location gradient at every pixel centre of every width equals the one of the
    unfused cell."""
    for width in WIDTHS:
        inputs = pixel_centre_inputs(dtype, width)
        copy = differentiable_copy(inputs)
        kernel(*(copy[name] for name in INPUT_NAMES)).sum().backward()
        cells = unfused_cells(inputs["sampling_locations"][..., 0].flatten(), width)
        expected = expected_location_gradient(inputs, cells)
        actual = copy["sampling_locations"].grad[..., 0].flatten().double()
        torch.testing.assert_close(actual, expected, **TOLERANCES[dtype], msg=lambda m: f"width {width}: {m}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_rounding_would_change_some_gradients(dtype):
    """The inputs are sensitive: a fused multiply-add picks another cell for some of the points,
    and there the gradient moves by far more than the tolerance."""
    points, changed = cells_and_counts(dtype)
    assert 0 < changed < points
    width = 152
    inputs = pixel_centre_inputs(dtype, width)
    x = inputs["sampling_locations"][..., 0].flatten()
    moved = unfused_cells(x, width) != fused_cells(x, width)
    assert moved.any()
    gaps = (expected_location_gradient(inputs, unfused_cells(x, width))
            - expected_location_gradient(inputs, fused_cells(x, width)))[moved].abs()
    assert bool((gaps > 1.0).all())  # the value scale is 1: the gaps are O(width)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cpu_kernel_uses_unfused_cells(dtype):
    assert ops.kernel_available("cpu"), "ops._C is not built: run `pip install --no-build-isolation -e .`"
    assert_pixel_centre_gradients(dtype)

"""torch.autocast and the operator: under CPU autocast the kernel receives value in the autocast
dtype and the locations and weights in float32 (its autocast rule), accumulates in float32, and
returns the autocast dtype; float64 inputs are left alone."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import ops
from tests.ops.inputs import INPUT_NAMES, differentiable_copy, max_error_ratio, random_inputs

GRAD_NAMES = ("value", "sampling_locations", "attention_weights")


class KernelDtypes(TorchDispatchMode):
    """Records the dtypes the kernel receives (this mode sees the op below autocast and autograd)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.detr_family.ms_deform_attn.default:
            self.calls.append(tuple(args[index].dtype for index in (0, 3, 4)))
        return func(*args, **(kwargs or {}))


@pytest.fixture(autouse=True)
def require_kernel():
    assert ops.kernel_available("cpu"), "ops._C is not built: run `pip install --no-build-isolation -e .`"


@pytest.mark.parametrize("dtype, tolerance", [(torch.bfloat16, 2e-2), (torch.float16, 4e-3)])
def test_cpu_autocast_runs_the_kernel_in_the_reduced_dtype(dtype, tolerance):
    inputs = random_inputs(((16, 12), (8, 6)), batch=2, heads=8, channels=32, queries=64, points=4,
                           dtype=torch.float32, seed=8)
    copy = differentiable_copy(inputs)
    with KernelDtypes() as seen, torch.autocast("cpu", dtype=dtype):
        output = ops.ms_deform_attn(*(copy[name] for name in INPUT_NAMES))
    assert seen.calls == [(dtype, torch.float32, torch.float32)]
    assert output.dtype == dtype
    output.float().sum().backward()
    assert all(copy[name].grad.dtype == torch.float32 for name in GRAD_NAMES)
    expected = ops.ms_deform_attn_reference(*(differentiable_copy(inputs, dtype=torch.float64)[name]
                                              for name in INPUT_NAMES))
    # value rounded to dtype (2^-9 / 2^-12 relative), float32 accumulation, one final rounding
    # (2^-9 / 2^-12): within twice the one-rounding tolerance of the scale.
    assert max_error_ratio(output, expected) < tolerance


def test_cpu_autocast_keeps_a_reduced_value_and_float32_locations():
    """The model's case: value from an autocast Linear (bfloat16), locations from float32 reference
    points; nothing is cast up."""
    inputs = random_inputs(((8, 8),), batch=1, heads=2, channels=16, queries=10, points=2, dtype=torch.float32)
    inputs["value"] = inputs["value"].bfloat16()
    with KernelDtypes() as seen, torch.autocast("cpu", dtype=torch.bfloat16):
        output = ops.ms_deform_attn(*(inputs[name] for name in INPUT_NAMES))
    assert seen.calls == [(torch.bfloat16, torch.float32, torch.float32)]
    assert output.dtype == torch.bfloat16


def test_cpu_autocast_leaves_float64_alone():
    inputs = random_inputs(((5, 4),), batch=1, heads=2, channels=3, queries=4, points=2)
    with KernelDtypes() as seen, torch.autocast("cpu", dtype=torch.bfloat16):
        output = ops.ms_deform_attn(*(inputs[name] for name in INPUT_NAMES))
    assert seen.calls == [(torch.float64, torch.float64, torch.float64)]
    expected = ops.ms_deform_attn_reference(*(inputs[name] for name in INPUT_NAMES))
    torch.testing.assert_close(output, expected, rtol=1e-12, atol=1e-12)  # float64, untouched

"""The CUDA kernel against the reference and the official fixture (needs a GPU)."""
import pytest
import torch

import ops
from tests.ops.inputs import (ENCODER_LEVELS, INPUT_NAMES, OP_FIXTURE, differentiable_copy, kernel,
                              max_error_ratio, output_and_grads, random_inputs)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _on(device, inputs, dtype=None):
    return differentiable_copy(inputs, device=device, dtype=dtype)


def test_cuda_kernel_is_built():
    assert ops.kernel_available("cuda"), "ops._C lacks the CUDA kernel: rebuild with a CUDA toolkit"


@pytest.mark.parametrize("levels, batch, heads, channels, points", [
    (((5, 7),), 2, 2, 3, 1),
    (((6, 5), (3, 4), (2, 2), (1, 3)), 1, 3, 5, 8),
    (((4, 4), (2, 3)), 3, 2, 40, 3),  # channels > 32: lanes loop over channels
])
def test_cuda_gradcheck_float64(levels, batch, heads, channels, points):
    inputs = _on("cuda", random_inputs(levels, batch, heads, channels, queries=3, points=points))
    # Default gradcheck tolerances; float64 atomics change only the summation order.
    assert torch.autograd.gradcheck(kernel, tuple(inputs[name] for name in INPUT_NAMES))


def test_cuda_matches_official_fixture():
    for config in torch.load(OP_FIXTURE, weights_only=True)["configs"]:
        inputs = _on("cuda", {name: config[name] for name in INPUT_NAMES})
        results = output_and_grads(kernel, inputs, config["grad_output"].cuda())
        names = ("output", "grad_value", "grad_sampling_locations", "grad_attention_weights")
        for actual, name in zip(results, names):
            torch.testing.assert_close(actual.cpu(), config[name], rtol=1e-10, atol=1e-10)  # float64 reordering


def _compare_with_reference(dtype, tolerance, coord_dtype=None, levels=ENCODER_LEVELS, queries=5440):
    inputs = random_inputs(levels, batch=2, heads=8, channels=32, queries=queries, points=4, dtype=dtype, seed=5)
    if coord_dtype is not None:
        for name in ("sampling_locations", "attention_weights"):
            inputs[name] = inputs[name].to(coord_dtype)
    grad_output = torch.randn(2, queries, 256, dtype=torch.float64).to(dtype)
    kernel = output_and_grads(ops.ms_deform_attn, _on("cuda", inputs), grad_output.cuda())
    reference = output_and_grads(ops.ms_deform_attn_reference, _on("cuda", inputs, dtype=torch.float64),
                                 grad_output.cuda())
    for actual, expected in zip(kernel, reference):
        assert max_error_ratio(actual, expected) < tolerance


def test_cuda_float32_encoder_shape():
    # float32 sums in another order (and atomics for the value gradient): within 1e-5 of the scale.
    _compare_with_reference(torch.float32, 1e-5)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
def test_cuda_reduced_precision(dtype, tolerance):
    # The reference runs in float64 on the same rounded inputs: what remains is about one final
    # rounding of a float32 result (2^-11 for float16, 2^-8 for bfloat16, relative to the scale).
    _compare_with_reference(dtype, tolerance, levels=((32, 32), (16, 16), (8, 8), (4, 4)), queries=1360)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_reduced_value_with_float32_locations(dtype):
    _compare_with_reference(dtype, 1e-2 if dtype == torch.bfloat16 else 2e-3, coord_dtype=torch.float32,
                            levels=((16, 16), (8, 8)), queries=320)


def test_cuda_module_matches_reference_path():
    torch.manual_seed(0)
    attention = ops.MSDeformAttn(d_model=64, n_levels=2, n_heads=8, n_points=4).cuda()
    spatial_shapes = torch.tensor([[10, 12], [5, 6]], device="cuda")
    level_start_index = torch.tensor([0, 120], device="cuda")
    query = torch.randn(2, 30, 64, device="cuda")
    reference_points = torch.rand(2, 30, 2, 2, device="cuda")
    memory = torch.randn(2, 150, 64, device="cuda")
    outputs = []
    for use_reference in (False, True):
        attention.use_reference = use_reference
        outputs.append(attention(query, reference_points, memory, spatial_shapes, level_start_index))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-4)  # float32 model tolerance

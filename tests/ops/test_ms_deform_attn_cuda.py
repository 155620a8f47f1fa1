"""The CUDA kernel against the reference, the CPU kernel and the official fixture (needs a GPU).

Every comparison first asserts that the CUDA kernel itself ran (the build has it and the result
came from the registered operator), so that a CPU-only build cannot pass through the fallback.
"""
import pytest
import torch

import ops
from tests.ops.inputs import (ENCODER_LEVELS, INPUT_NAMES, OP_FIXTURE, differentiable_copy, kernel,
                              max_error_ratio, output_and_grads, random_inputs)
from tests.ops.pixel_centres import WIDTHS, pixel_centre_inputs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
GRAD_NAMES = ("value", "sampling_locations", "attention_weights")
# float64 gradcheck: the value gradient is summed with atomics, whose order varies between the
# two evaluations gradcheck compares; PyTorch's own grid_sample tests allow the same.
NONDET_TOL = 1e-10


@pytest.fixture(autouse=True)
def cuda_kernel_built():
    assert ops.kernel_available("cuda"), "ops._C lacks the CUDA kernel: rebuild with a CUDA toolkit"


def _on(device, inputs, dtype=None):
    return differentiable_copy(inputs, device=device, dtype=dtype)


def _kernel_ran(output):
    """The result came from the registered operator (its C++ autograd node), not the reference."""
    assert output.is_cuda and "MSDeformAttnFunction" in output.grad_fn.name(), output.grad_fn


def _cuda_results(inputs, grad_output, dtype=None):
    """(output, grad_value, grad_locations, grad_weights) of the CUDA kernel, checked to have run."""
    copy = _on("cuda", inputs, dtype)
    output = kernel(*(copy[name] for name in INPUT_NAMES))
    _kernel_ran(output)
    output.backward(grad_output.to(device="cuda", dtype=output.dtype))
    return (output.detach(), *(copy[name].grad for name in GRAD_NAMES))


def _cpu_results(inputs, grad_output, dtype=None):
    return output_and_grads(kernel, _on("cpu", inputs, dtype), grad_output)


@pytest.mark.parametrize("levels, batch, heads, channels, points", [
    (((5, 7),), 2, 2, 3, 1),
    (((6, 5), (3, 4), (2, 2), (1, 3)), 1, 3, 5, 8),
    (((4, 4), (2, 3)), 3, 2, 40, 3),  # channels > 32: lanes loop over channels
])
def test_cuda_gradcheck_float64(levels, batch, heads, channels, points):
    inputs = _on("cuda", random_inputs(levels, batch, heads, channels, queries=3, points=points))
    _kernel_ran(kernel(*(inputs[name] for name in INPUT_NAMES)))
    # Default gradcheck tolerances; nondet_tol for the atomics' summation order (see NONDET_TOL).
    assert torch.autograd.gradcheck(kernel, tuple(inputs[name] for name in INPUT_NAMES), nondet_tol=NONDET_TOL)


def test_cuda_matches_official_fixture():
    for config in torch.load(OP_FIXTURE, weights_only=True)["configs"]:
        results = _cuda_results({name: config[name] for name in INPUT_NAMES}, config["grad_output"])
        names = ("output", "grad_value", "grad_sampling_locations", "grad_attention_weights")
        for actual, name in zip(results, names):
            torch.testing.assert_close(actual.cpu(), config[name], rtol=1e-10, atol=1e-10)  # float64 reordering


@pytest.mark.parametrize("width", WIDTHS)
def test_cuda_equals_cpu_at_pixel_centres(width):
    """Both kernels compute loc * size - 0.5 with the product and the difference rounded
    separately, so at exact pixel centres they take the location gradient from the same cell."""
    inputs = pixel_centre_inputs(torch.float64, width)
    grad_output = torch.ones(1, width, inputs["value"].shape[-1], dtype=torch.float64)
    for actual, expected in zip(_cuda_results(inputs, grad_output), _cpu_results(inputs, grad_output)):
        torch.testing.assert_close(actual.cpu(), expected, rtol=1e-12, atol=1e-12)  # float64, same cells


def test_cuda_equals_cpu_on_odd_sizes_float64():
    inputs = random_inputs(((7, 9), (5, 3), (3, 2)), batch=2, heads=3, channels=6, queries=11, points=5, seed=9)
    grad_output = torch.randn(2, 11, 18, dtype=torch.float64)
    for actual, expected in zip(_cuda_results(inputs, grad_output), _cpu_results(inputs, grad_output)):
        torch.testing.assert_close(actual.cpu(), expected, rtol=1e-12, atol=1e-12)  # float64 reordering


def _compare_with_reference(dtype, tolerance, coord_dtype=None, levels=ENCODER_LEVELS, queries=5440, channels=32):
    inputs = random_inputs(levels, batch=2, heads=8, channels=channels, queries=queries, points=4, dtype=dtype,
                           seed=5)
    if coord_dtype is not None:
        for name in ("sampling_locations", "attention_weights"):
            inputs[name] = inputs[name].to(coord_dtype)
    grad_output = torch.randn(2, queries, 8 * channels, dtype=torch.float64).to(dtype)
    results = _cuda_results(inputs, grad_output)
    reference = output_and_grads(ops.ms_deform_attn_reference, _on("cuda", inputs, dtype=torch.float64),
                                 grad_output.cuda())
    for actual, expected in zip(results, reference):
        assert max_error_ratio(actual, expected) < tolerance


def test_cuda_float32_encoder_shape():
    # float32 sums in another order (and atomics for the value gradient): within 1e-5 of the scale.
    _compare_with_reference(torch.float32, 1e-5)


# The reference runs in float64 on the same rounded inputs: what remains is about one final rounding
# of a float32 result (2^-11 for float16, 2^-8 for bfloat16, relative to the scale).
REDUCED = [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)]


@pytest.mark.parametrize("dtype, tolerance", REDUCED)
def test_cuda_reduced_precision(dtype, tolerance):
    _compare_with_reference(dtype, tolerance, levels=((32, 32), (16, 16), (8, 8), (4, 4)), queries=1360)


@pytest.mark.parametrize("channels", [1, 33, 64])
@pytest.mark.parametrize("dtype, tolerance", REDUCED)
def test_cuda_reduced_precision_channel_counts(dtype, tolerance, channels):
    """1 channel (one lane per point), 33 (lanes loop, ragged tail), 64 (two channels per lane)."""
    _compare_with_reference(dtype, tolerance, levels=((12, 10), (6, 5)), queries=50, channels=channels)


@pytest.mark.parametrize("dtype, tolerance", REDUCED)
def test_cuda_reduced_value_with_float32_locations(dtype, tolerance):
    _compare_with_reference(dtype, tolerance, coord_dtype=torch.float32, levels=((16, 16), (8, 8)), queries=320)


def test_cuda_empty_inputs_through_backward():
    full = random_inputs(((4, 4),), batch=2, heads=2, channels=3, queries=4, points=2)
    for batch, queries in ((2, 0), (0, 4)):
        inputs = dict(full, value=full["value"][:batch],
                      sampling_locations=full["sampling_locations"][:batch, :queries],
                      attention_weights=full["attention_weights"][:batch, :queries])
        grad_output = torch.ones(batch, queries, 6, dtype=torch.float64)
        output, grad_value, grad_locations, grad_weights = _cuda_results(inputs, grad_output)
        assert output.shape == (batch, queries, 6)
        assert grad_value.shape == inputs["value"].shape and not grad_value.any()
        assert grad_locations.shape == inputs["sampling_locations"].shape
        assert grad_weights.shape == inputs["attention_weights"].shape


def test_cuda_non_contiguous_inputs_and_expanded_grad_output():
    inputs = random_inputs(((6, 5), (3, 3)), batch=2, heads=4, channels=8, queries=7, points=3, seed=2)
    grad_output = torch.randn(1, 1, 32, dtype=torch.float64).expand(2, 7, 32)  # stride 0 in two dims
    expected = _cpu_results(inputs, grad_output.contiguous())
    strided = {}
    for name, tensor in inputs.items():
        if tensor.is_floating_point():  # the same values through a transposed copy: non-contiguous
            tensor = tensor.transpose(0, 1).contiguous().transpose(0, 1)
            assert not tensor.is_contiguous()
        strided[name] = tensor
    copy = _on("cuda", strided)
    for name in GRAD_NAMES:  # differentiable_copy makes contiguous leaves; re-stride on the device
        copy[name] = copy[name].detach().transpose(0, 1).contiguous().transpose(0, 1).requires_grad_(True)
        assert not copy[name].is_contiguous()
    output = kernel(*(copy[name] for name in INPUT_NAMES))
    _kernel_ran(output)
    output.backward(grad_output.cuda())
    for actual, wanted in zip((output.detach(), *(copy[name].grad for name in GRAD_NAMES)), expected):
        torch.testing.assert_close(actual.cpu(), wanted, rtol=1e-12, atol=1e-12)  # float64 reordering


def test_cuda_side_stream():
    """The kernels launch on the current stream: results on a side stream equal the default stream's."""
    inputs = random_inputs(((9, 8), (4, 4)), batch=2, heads=4, channels=16, queries=50, points=4, seed=6)
    grad_output = torch.randn(2, 50, 64, dtype=torch.float64)
    expected = _cuda_results(inputs, grad_output)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        results = _cuda_results(inputs, grad_output)
    side.synchronize()
    for actual, wanted in zip(results, expected):
        torch.testing.assert_close(actual, wanted, rtol=1e-12, atol=1e-12)  # float64; atomics' order only


@pytest.mark.parametrize("dtype, tolerance", REDUCED)
def test_cuda_autocast(dtype, tolerance):
    """Under autocast the op runs in the autocast dtype (value cast to it, locations float32) and
    returns it; gradients come back in the inputs' float32."""
    inputs = random_inputs(((16, 12), (8, 6)), batch=2, heads=8, channels=32, queries=64, points=4,
                           dtype=torch.float32, seed=8)
    copy = _on("cuda", inputs)
    with torch.autocast("cuda", dtype=dtype):
        output = ops.ms_deform_attn(*(copy[name] for name in INPUT_NAMES))
    assert output.dtype == dtype
    output.float().sum().backward()
    assert all(copy[name].grad.dtype == torch.float32 for name in GRAD_NAMES)
    expected = ops.ms_deform_attn_reference(*(_on("cuda", inputs, torch.float64)[name] for name in INPUT_NAMES))
    # value rounded to dtype, float32 accumulation, one final rounding: about 2^-8 / 2^-11 (plus the
    # rounding of value itself) relative to the scale.
    assert max_error_ratio(output, expected) < 2 * tolerance


def test_cuda_nan_locations_read_nothing():
    """NaN locations are off every map: they add nothing and get zero gradients, as on the CPU."""
    inputs = random_inputs(((6, 7), (3, 4)), batch=2, heads=2, channels=8, queries=9, points=3, seed=12)
    nan_points = torch.zeros(inputs["attention_weights"].shape, dtype=torch.bool)
    nan_points.view(-1)[::5] = True
    inputs["sampling_locations"][nan_points] = float("nan")
    grad_output = torch.randn(2, 9, 16, dtype=torch.float64)
    results = _cuda_results(inputs, grad_output)
    for actual, expected in zip(results, _cpu_results(inputs, grad_output)):
        torch.testing.assert_close(actual.cpu(), expected, rtol=1e-12, atol=1e-12)  # float64 reordering
    assert torch.isfinite(results[0]).all()
    assert not results[2].cpu()[nan_points].any() and not results[3].cpu()[nan_points].any()


def test_cuda_bad_level_start_raises_on_device():
    """A level reaching past value is caught inside the kernel (a device-side assert, reported at
    the next synchronisation), not read out of bounds. Run in a subprocess: the assert leaves the
    CUDA context unusable."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path
    script = textwrap.dedent("""
        import torch
        import ops
        from tests.ops.inputs import INPUT_NAMES, random_inputs
        inputs = random_inputs(((4, 4), (2, 2)), batch=1, heads=2, channels=3, queries=3, points=2)
        inputs["level_start_index"] = inputs["level_start_index"] + 100
        args = [inputs[name].cuda() for name in INPUT_NAMES]
        try:
            torch.ops.detr_family.ms_deform_attn(*args)
            torch.cuda.synchronize()
        except RuntimeError as error:
            print("raised:", "assert" in str(error).lower())
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, timeout=300)
    assert "raised: True" in result.stdout, result.stdout + result.stderr[-2000:]


def test_cuda_deterministic_mode_rejects_backward():
    inputs = _on("cuda", random_inputs(((4, 4),), batch=1, heads=2, channels=3, queries=3, points=2))
    output = kernel(*(inputs[name] for name in INPUT_NAMES))
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with pytest.raises(RuntimeError, match="ms_deform_attn_backward_cuda"):
            output.sum().backward()
    finally:
        torch.use_deterministic_algorithms(previous)


def test_cuda_more_than_2_31_threads():
    """Forward threads N*Lq*M*D and backward threads (points x 32 lanes) both above 2^31: the last
    rows equal the reference on the same rows (64-bit indexing throughout)."""
    queries, channels = 2**26 + 5, 32  # forward: 2^31 + 160 threads; backward: 2^31 + 160 threads
    side = 1024  # a large map, so that the value-gradient atomics rarely meet
    spatial_shapes = torch.tensor([[side, side]], device="cuda")
    level_start_index = torch.zeros(1, dtype=torch.long, device="cuda")
    generator = torch.Generator(device="cuda").manual_seed(0)
    value = torch.randn(1, side * side, 1, channels, device="cuda", dtype=torch.float16, generator=generator)
    locations = torch.rand(1, queries, 1, 1, 1, 2, device="cuda", generator=generator)
    weights = torch.rand(1, queries, 1, 1, 1, device="cuda", generator=generator)
    value.requires_grad_(True)
    locations.requires_grad_(True)
    weights.requires_grad_(True)
    output = kernel(value, spatial_shapes, level_start_index, locations, weights)
    _kernel_ran(output)
    tail = slice(queries - 7, queries)
    expected = ops.ms_deform_attn_reference(value.detach().double(), spatial_shapes, level_start_index,
                                            locations.detach()[:, tail].double(), weights.detach()[:, tail].double())
    assert max_error_ratio(output.detach()[:, tail], expected) < 2e-3  # one float16 rounding
    grad_output = torch.zeros_like(output)
    grad_output[:, tail] = 1
    output.backward(grad_output)
    tail_locations = locations.detach()[:, tail].clone().double().requires_grad_(True)
    reference = ops.ms_deform_attn_reference(value.detach().double(), spatial_shapes, level_start_index,
                                             tail_locations, weights.detach()[:, tail].double())
    reference.sum().backward()
    assert max_error_ratio(locations.grad[:, tail], tail_locations.grad) < 2e-3
    assert not locations.grad[:, :tail.start].any()  # zero output gradient there


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

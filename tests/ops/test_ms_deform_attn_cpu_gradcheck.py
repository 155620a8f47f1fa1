"""torch.autograd.gradcheck of the CPU kernel (float64) over shapes and edge cases."""
import pytest
import torch

import ops
from tests.ops.inputs import INPUT_NAMES, differentiable_copy, kernel, random_inputs

# (levels, batch, heads, channels per head, queries, points)
SHAPES = {
    "one_level_one_point": (((5, 7),), 2, 2, 3, 4, 1),
    "four_levels_eight_points": (((6, 5), (3, 4), (2, 2), (1, 3)), 1, 3, 5, 3, 8),
    "batch3_pow2_channels": (((4, 4), (2, 3)), 3, 2, 4, 3, 3),
    "single_head_batch1": (((3, 5), (2, 2)), 1, 1, 6, 4, 2),
}


@pytest.fixture(autouse=True)
def two_threads():
    """Run with 2 threads, the CI machine's count, whatever this machine has."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_cpu_kernel_gradcheck(name):
    assert ops.kernel_available("cpu"), "ops._C is not built: run `pip install --no-build-isolation -e .`"
    levels, batch, heads, channels, queries, points = SHAPES[name]
    inputs = differentiable_copy(random_inputs(levels, batch, heads, channels, queries, points, seed=len(name)))
    # Default gradcheck tolerances (atol 1e-5, rtol 1e-3, eps 1e-6): random locations lie far from
    # the pixel-grid kinks of bilinear sampling, border (0, 1) and far-off points are smooth there.
    assert torch.autograd.gradcheck(kernel, tuple(inputs[name] for name in INPUT_NAMES))


def _backward_at(threads, inputs, grad_output):
    torch.set_num_threads(threads)
    copy = differentiable_copy(inputs)
    kernel(*(copy[name] for name in INPUT_NAMES)).backward(grad_output)
    return [copy[name].grad for name in ("value", "sampling_locations", "attention_weights")]


def test_chunked_and_sliced_backward_agree():
    """With 2 threads, one image, one level and one head (N*L*M = 1 slice of grad_value) and enough
    work (N*Lq*M*L*P*D = 38400 >= 32768) the value gradient goes to per-chunk buffers; with 1 thread
    the single slice accumulates it directly. Both must agree."""
    inputs = random_inputs(((7, 9),), batch=1, heads=1, channels=16, queries=600, points=4, seed=3)
    grad_output = torch.randn(1, 600, 16, dtype=torch.float64)
    for chunked, sliced in zip(_backward_at(2, inputs, grad_output), _backward_at(1, inputs, grad_output)):
        # float64; only the summation order of the value gradient differs.
        torch.testing.assert_close(chunked, sliced, rtol=1e-12, atol=1e-12)


def test_sliced_backward_does_not_depend_on_thread_count():
    """One image and one level: 2 threads cut the 3 heads into 2 slices run in parallel, 1 thread
    keeps one slice. Every grad_value element receives its terms in query order either way, so the
    results are the same to the last bit."""
    inputs = random_inputs(((7, 9),), batch=1, heads=3, channels=8, queries=2000, points=3, seed=4)
    grad_output = torch.randn(1, 2000, 24, dtype=torch.float64)
    for two, one in zip(_backward_at(2, inputs, grad_output), _backward_at(1, inputs, grad_output)):
        torch.testing.assert_close(two, one, rtol=0, atol=0)  # same operations in the same order

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


def test_chunked_and_per_head_backward_agree():
    """With 2 threads, N*M = 1 and enough work (N*Lq*M*L*P*D = 32768) the value gradient goes to
    per-chunk buffers; with 1 thread it is accumulated per (n, m) slice. Both must agree."""
    inputs = random_inputs(((7, 9), (4, 5)), batch=1, heads=1, channels=16, queries=256, points=4, seed=3)
    grad_output = torch.randn(1, 256, 16, dtype=torch.float64)
    grads = []
    for threads in (2, 1):
        torch.set_num_threads(threads)
        copy = differentiable_copy(inputs)
        kernel(*(copy[name] for name in INPUT_NAMES)).backward(grad_output)
        grads.append([copy[name].grad for name in ("value", "sampling_locations", "attention_weights")])
    for chunked, per_head in zip(*grads):
        # float64; only the summation order of the value gradient differs.
        torch.testing.assert_close(chunked, per_head, rtol=1e-12, atol=1e-12)

"""The reference and the CPU kernel reproduce the official op fixture (float64)."""
import pytest
import torch

import ops
from tests.ops.inputs import INPUT_NAMES, OP_FIXTURE, differentiable_copy, kernel, output_and_grads

CONFIGS = torch.load(OP_FIXTURE, weights_only=True)["configs"]
IMPLEMENTATIONS = {
    "reference": ops.ms_deform_attn_reference,
    "cpu_kernel": kernel,
}
# Float64 throughout. The reference is the official formula (grid_sample), so it must match to
# rounding; the kernel sums in another order, which moves results by ~1e-13 of their scale.
TOLERANCES = {"reference": dict(rtol=1e-12, atol=1e-12), "cpu_kernel": dict(rtol=1e-10, atol=1e-10)}


@pytest.mark.parametrize("config", CONFIGS, ids=[config["name"] for config in CONFIGS])
@pytest.mark.parametrize("implementation", sorted(IMPLEMENTATIONS))
def test_matches_official_fixture(implementation, config):
    if implementation == "cpu_kernel":
        assert ops.kernel_available("cpu"), "ops._C is not built: run `pip install --no-build-isolation -e .`"
    inputs = differentiable_copy({name: config[name] for name in INPUT_NAMES})
    output, grad_value, grad_locations, grad_weights = output_and_grads(
        IMPLEMENTATIONS[implementation], inputs, config["grad_output"])
    tolerance = TOLERANCES[implementation]
    torch.testing.assert_close(output, config["output"], **tolerance)
    torch.testing.assert_close(grad_value, config["grad_value"], **tolerance)
    torch.testing.assert_close(grad_locations, config["grad_sampling_locations"], **tolerance)
    torch.testing.assert_close(grad_weights, config["grad_attention_weights"], **tolerance)


def test_fixture_exercises_off_map_points():
    """The fixture's points that are fully off the map have exactly zero gradient (README)."""
    config = CONFIGS[1]
    inputs = differentiable_copy({name: config[name] for name in INPUT_NAMES})
    _, _, grad_locations, grad_weights = output_and_grads(kernel, inputs, config["grad_output"])
    far_off = ((config["sampling_locations"] < -0.5) | (config["sampling_locations"] > 1.5)).any(-1)
    assert far_off.sum() > 0
    assert torch.equal(grad_weights[far_off], torch.zeros_like(grad_weights[far_off]))
    assert torch.equal(grad_locations[far_off], torch.zeros_like(grad_locations[far_off]))

"""The CPU kernel is built once per vector capability (baseline, AVX2, AVX-512) and the best one
the CPU runs is used; ATEN_CPU_CAPABILITY lowers the choice. Each build this CPU can run is checked
in a fresh interpreter (the choice is made once per process) against the official fixture, the
reference over channel counts that take every vector path, and float32 for the reduced dtypes."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import ops
from ops import _extension

REPO_ROOT = Path(__file__).resolve().parents[2]
CAPABILITIES = ("default", "avx2", "avx512")

CHECKS = textwrap.dedent("""
    import sys
    import torch
    import ops
    from ops import _extension
    from tests.ops.inputs import (INPUT_NAMES, OP_FIXTURE, differentiable_copy, kernel, max_error_ratio,
                                  output_and_grads, random_inputs)
    from tests.ops.test_ms_deform_attn_pixel_centres import assert_pixel_centre_gradients

    capability = sys.argv[1].upper()
    assert _extension.compiled_module().cpu_kernel_capability() == capability, \\
        _extension.compiled_module().cpu_kernel_capability()
    names = ("output", "grad_value", "grad_sampling_locations", "grad_attention_weights")
    for config in torch.load(OP_FIXTURE, weights_only=True)["configs"]:
        inputs = differentiable_copy({name: config[name] for name in INPUT_NAMES})
        for actual, name in zip(output_and_grads(kernel, inputs, config["grad_output"]), names):
            torch.testing.assert_close(actual, config[name], rtol=1e-10, atol=1e-10)  # float64 reordering
    # 1..64 channels: the scalar tail, and 1, 2 and 4 whole vectors of every capability's width.
    for channels in (1, 3, 4, 8, 16, 32, 33, 64):
        for points in (3, 4):
            inputs = random_inputs(((6, 7), (3, 4)), batch=2, heads=2, channels=channels, queries=9,
                                   points=points, seed=channels)
            grad_output = torch.randn(2, 9, 2 * channels, dtype=torch.float64)
            results = output_and_grads(kernel, differentiable_copy(inputs), grad_output)
            expected = output_and_grads(ops.ms_deform_attn_reference, differentiable_copy(inputs), grad_output)
            for actual, wanted in zip(results, expected):
                torch.testing.assert_close(actual, wanted, rtol=1e-10, atol=1e-10)  # float64 reordering
    assert_pixel_centre_gradients(torch.float64)
    assert_pixel_centre_gradients(torch.float32)
    # float16/bfloat16 against the float32 kernel on the same (rounded) inputs: within about one
    # rounding of the result (2^-11, 2^-8 relative to the scale), fused gradients included.
    for dtype, tolerance in ((torch.float16, 2e-3), (torch.bfloat16, 1e-2)):
        inputs = random_inputs(((16, 12), (8, 6)), batch=1, heads=8, channels=32, queries=100, points=4,
                               dtype=dtype, seed=11)
        grad_output = torch.randn(1, 100, 256, dtype=torch.float64).to(dtype)
        reduced = output_and_grads(kernel, differentiable_copy(inputs), grad_output)
        single = output_and_grads(kernel, differentiable_copy(inputs, dtype=torch.float32), grad_output)
        for actual, wanted in zip(reduced, single):
            assert actual.dtype == dtype
            assert max_error_ratio(actual, wanted) < tolerance, (dtype, max_error_ratio(actual, wanted))
    print("checks-ok")
""")


def _runnable():
    """The capabilities this CPU runs, lowest first (ATen's own detection)."""
    best = torch.backends.cpu.get_cpu_capability().lower()
    return CAPABILITIES[: CAPABILITIES.index(best) + 1] if best in CAPABILITIES else ("default",)


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_capability_build_matches_references(capability):
    assert ops.kernel_available("cpu"), "ops._C is not built: run `pip install --no-build-isolation -e .`"
    if capability not in _runnable():
        pytest.skip(f"this CPU does not run {capability}")
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability, OMP_NUM_THREADS="2")
    result = subprocess.run([sys.executable, "-c", CHECKS, capability], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "checks-ok" in result.stdout


def test_best_capability_is_used_by_default():
    """Without ATEN_CPU_CAPABILITY (as pytest runs here) the kernel uses the best build the CPU runs."""
    if os.environ.get("ATEN_CPU_CAPABILITY"):
        pytest.skip("ATEN_CPU_CAPABILITY is set for this run")
    assert _extension.compiled_module().cpu_kernel_capability() == _runnable()[-1].upper()

"""Without ops._C the package still imports and ms_deform_attn runs the reference, logged once."""
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

import ops
from ops import _extension, function
from tests.ops.inputs import INPUT_NAMES, differentiable_copy, output_and_grads, random_inputs

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_hidden_extension_falls_back_to_reference(monkeypatch, caplog):
    monkeypatch.setattr(_extension, "_compiled", None)
    function._log_fallback_once.cache_clear()
    inputs = random_inputs(((6, 7), (3, 4)), batch=2, heads=2, channels=5, queries=6, points=3)
    grad_output = torch.randn(2, 6, 10, dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger="ops.function"):
        fallback = output_and_grads(ops.ms_deform_attn, differentiable_copy(inputs), grad_output)
        ops.ms_deform_attn(*(inputs[name] for name in INPUT_NAMES))
    reference = output_and_grads(ops.ms_deform_attn_reference, differentiable_copy(inputs), grad_output)
    assert not ops.kernel_available("cpu")
    for actual, expected in zip(fallback, reference):
        assert torch.equal(actual, expected)  # the same computation, bit for bit
    messages = [record.getMessage() for record in caplog.records if "PyTorch reference" in record.getMessage()]
    assert len(messages) == 1 and "ops._C could not be imported" in messages[0]
    function._log_fallback_once.cache_clear()


def test_import_succeeds_when_extension_cannot_load():
    """A fresh interpreter in which `import ops._C` fails (as when it was never built)."""
    script = textwrap.dedent("""
        import sys
        sys.modules["ops._C"] = None  # makes `from ops import _C` raise ImportError
        import torch
        import ops
        from tests.ops.inputs import INPUT_NAMES, random_inputs
        assert not ops.kernel_available("cpu") and not ops.kernel_available("cuda")
        inputs = random_inputs(((4, 5),), batch=1, heads=2, channels=3, queries=3, points=2)
        output = ops.ms_deform_attn(*(inputs[name] for name in INPUT_NAMES))
        expected = ops.ms_deform_attn_reference(*(inputs[name] for name in INPUT_NAMES))
        assert torch.equal(output, expected)
        print("fallback-ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "fallback-ok" in result.stdout
    assert "uses the PyTorch reference" in result.stderr  # the one-time log line (default WARNING handler)


def test_kernel_availability_matches_build():
    compiled = _extension.compiled_module()
    assert ops.kernel_available("cuda") == (compiled is not None and compiled.has_cuda_kernel())
    assert not ops.kernel_available("mps")


def test_kernel_loads_when_ops_is_imported_before_torch():
    """ops._C links libc10 without an rpath: `import ops` must load torch before it."""
    script = "import ops; assert ops.kernel_available('cpu'), ops._extension.unavailable_reason('cpu'); print('ok')"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

"""The registered operator torch.ops.detr_family.ms_deform_attn: torch.library.opcheck (schema,
autograd registration, fake kernel, AOT dispatch with dynamic shapes), one node in torch.export,
no graph break in torch.compile(fullgraph=True) through ``ops.ms_deform_attn``."""
import pytest
import torch

import ops
from tests.ops.inputs import INPUT_NAMES, differentiable_copy, random_inputs

LEVELS = ((6, 5), (3, 4))
needs_kernel = pytest.mark.skipif(not ops.kernel_available("cpu"), reason="needs the compiled op ops._C")
needs_cuda = pytest.mark.skipif(not (torch.cuda.is_available() and ops.kernel_available("cuda")),
                                reason="needs a CUDA device")


def _op_args(device="cpu", dtype=torch.float64, batch=2, queries=5, seed=0):
    inputs = differentiable_copy(random_inputs(LEVELS, batch=batch, heads=2, channels=4, queries=queries, points=3,
                                               dtype=dtype, seed=seed), device=device)
    return tuple(inputs[name] for name in INPUT_NAMES)


def _assert_opcheck(device, dtype):
    results = torch.library.opcheck(torch.ops.detr_family.ms_deform_attn, _op_args(device, dtype))
    assert set(results.values()) == {"SUCCESS"}, results


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_cpu(dtype):
    _assert_opcheck("cpu", dtype)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_cuda(dtype):
    _assert_opcheck("cuda", dtype)


@needs_kernel
def test_backward_op_matches_autograd():
    args = _op_args()
    output = torch.ops.detr_family.ms_deform_attn(*args)
    grad_output = torch.randn_like(output)
    output.backward(grad_output)
    grads = torch.ops.detr_family.ms_deform_attn_backward(grad_output, *(arg.detach() for arg in args))
    for grad, arg in zip(grads, (args[0], args[3], args[4])):
        torch.testing.assert_close(grad, arg.grad, rtol=0, atol=0)  # the same kernel call


def _entry_point(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    return ops.ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights) * 2


class _EntryPoint(torch.nn.Module):
    def forward(self, value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
        return _entry_point(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)


@needs_kernel
def test_export_keeps_one_operator_node():
    args = tuple(arg.detach() for arg in _op_args(dtype=torch.float32))
    batch, queries = torch.export.Dim("batch"), torch.export.Dim("queries")
    shapes = ({0: batch}, None, None, {0: batch, 1: queries}, {0: batch, 1: queries})
    exported = torch.export.export(_EntryPoint(), args, dynamic_shapes=shapes)
    targets = [node.target for node in exported.graph.nodes if node.op == "call_function"]
    assert targets.count(torch.ops.detr_family.ms_deform_attn.default) == 1
    other = tuple(arg.detach() for arg in _op_args(dtype=torch.float32, batch=3, queries=7, seed=1))
    torch.testing.assert_close(exported.module()(*other), _entry_point(*other), rtol=0, atol=0)  # same kernel


@needs_kernel
def test_compile_fullgraph_through_entry_point():
    """fullgraph=True raises on any graph break; aot_eager also traces the backward op."""
    torch._dynamo.reset()
    graphs = []

    def backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return torch._dynamo.lookup_backend("aot_eager")(graph_module, example_inputs)

    compiled = torch.compile(_entry_point, fullgraph=True, backend=backend)
    args = _op_args(dtype=torch.float32)
    output = compiled(*args)
    output.square().sum().backward()
    eager_args = tuple(arg.detach().clone().requires_grad_(arg.requires_grad) for arg in args)
    expected = _entry_point(*eager_args)
    expected.square().sum().backward()
    targets = [node.target for node in graphs[0].graph.nodes if node.op == "call_function"]
    assert len(graphs) == 1 and torch.ops.detr_family.ms_deform_attn in targets  # the packet, as called
    torch.testing.assert_close(output, expected, rtol=1e-6, atol=1e-6)  # float32, same kernel
    for arg, eager_arg in zip(args, eager_args):
        if arg.requires_grad:
            torch.testing.assert_close(arg.grad, eager_arg.grad, rtol=1e-6, atol=1e-6)

"""The ONNX lowerings of torch.ops.detr_family.ms_deform_attn (gather, the default, and the
grid-sample decomposition) against the compiled kernel and the PyTorch reference in onnxruntime, on
level sizes, batches and query counts other than the exported ones (they are read from the op's
inputs inside the graph), including levels one pixel high or wide and 1x1 levels."""
import pytest
import torch

import ops
from projects.deploy.requirements import missing_modules
from tests.ops.inputs import INPUT_NAMES, random_inputs

pytestmark = [
    pytest.mark.skipif(bool(missing_modules("onnx", "onnxscript", "onnxruntime")),
                       reason="needs the deploy extra (pip install -e .[deploy])"),
    pytest.mark.skipif(not ops.kernel_available("cpu"), reason="needs the compiled op ops._C"),
]
LOWERINGS = ("gather", "gridsample")


class _Attention(torch.nn.Module):
    def forward(self, value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
        return ops.ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)


def _export(lowering, path):
    import onnxruntime

    from projects.deploy.onnx_lowering import OPSET, translations

    inputs = random_inputs(((6, 5), (3, 4), (2, 2)), batch=2, heads=2, channels=4, queries=7, points=3,
                           dtype=torch.float32)
    batch, tokens, queries = torch.export.Dim("batch"), torch.export.Dim("tokens"), torch.export.Dim("queries")
    shapes = ({0: batch, 1: tokens}, None, None, {0: batch, 1: queries}, {0: batch, 1: queries})
    program = torch.onnx.export(_Attention().eval(), tuple(inputs[name] for name in INPUT_NAMES), dynamo=True,
                                dynamic_shapes=shapes, custom_translation_table=translations(lowering),
                                opset_version=OPSET, input_names=list(INPUT_NAMES), optimize=False, verbose=False)
    program.save(str(path))
    assert not any(node.domain == "detr_family" for node in program.model.graph)  # fully decomposed
    return program.model, onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{lowering: (ONNX IR model, onnxruntime session)}."""
    folder = tmp_path_factory.mktemp("lowering")
    return {lowering: _export(lowering, folder / f"{lowering}.onnx") for lowering in LOWERINGS}


def _run(session, inputs):
    return torch.from_numpy(session.run(None, {name: inputs[name].numpy() for name in INPUT_NAMES})[0])


@pytest.mark.parametrize("lowering", LOWERINGS)
@pytest.mark.parametrize("levels, batch, queries", [
    (((6, 5), (3, 4), (2, 2)), 2, 7),  # the export shapes
    (((9, 7), (5, 4), (1, 3)), 3, 11),  # other level sizes, batch and queries
    (((2, 9), (8, 1), (4, 4)), 1, 4),
    (((1, 1), (1, 6), (5, 1)), 2, 9),  # a 1x1 level, one row, one column
    (((7, 3), (1, 1), (1, 1)), 1, 1),  # two 1x1 levels, one query
])
def test_lowering_matches_kernel_and_reference(exported, lowering, levels, batch, queries):
    inputs = random_inputs(levels, batch=batch, heads=2, channels=4, queries=queries, points=3,
                           dtype=torch.float32, seed=len(levels) + batch + queries)
    output = _run(exported[lowering][1], inputs)
    arguments = [inputs[name] for name in INPUT_NAMES]
    # float32 bilinear sums in another order than the kernel's: ~1e-7 of unit-scale values.
    torch.testing.assert_close(output, ops.ms_deform_attn(*arguments), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(output, ops.ms_deform_attn(*arguments, use_reference=True), rtol=1e-5, atol=1e-5)


def test_gather_lowering_reads_nothing_off_the_map(exported):
    """Points wholly off the map, NaN locations and zero weights contribute zero, as in the kernel
    (the gather reads a valid row with weight 0 instead of an index out of range)."""
    inputs = random_inputs(((4, 3), (2, 2), (1, 1)), batch=2, heads=2, channels=4, queries=6, points=3,
                           dtype=torch.float32, seed=7)
    locations = inputs["sampling_locations"]
    locations[0, 0] = 5.0
    locations[0, 1] = -3.0
    locations[1, 2, :, :, :, 0] = float("nan")
    output = _run(exported["gather"][1], inputs)
    assert torch.isfinite(output).all()
    expected = ops.ms_deform_attn(*(inputs[name] for name in INPUT_NAMES))
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-5)
    assert output[0, :2].abs().max() == 0


def test_gather_lowering_has_no_grid_sample(exported):
    """The default lowering gathers the sampled rows: no GridSample node, one Gather of the value rows."""
    operators = [node.op_type for node in exported["gather"][0].graph]
    assert "GridSample" not in operators and "MatMul" in operators
    assert "GridSample" in [node.op_type for node in exported["gridsample"][0].graph]


def test_unknown_lowering_is_a_clear_error():
    from projects.deploy.onnx_lowering import translations

    with pytest.raises(ValueError, match="unknown ms_deform_attn ONNX lowering 'fast'"):
        translations("fast")

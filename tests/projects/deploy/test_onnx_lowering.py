"""The ONNX lowering of torch.ops.detr_family.ms_deform_attn (grid-sample decomposition) against
the compiled kernel in onnxruntime, on level sizes, batches and query counts other than the
exported ones (they are read from the op's inputs inside the graph)."""
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


class _Attention(torch.nn.Module):
    def forward(self, value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
        return ops.ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    import onnxruntime

    from projects.deploy.onnx_lowering import OPSET, TRANSLATIONS

    inputs = random_inputs(((6, 5), (3, 4), (2, 2)), batch=2, heads=2, channels=4, queries=7, points=3,
                           dtype=torch.float32)
    batch, tokens, queries = torch.export.Dim("batch"), torch.export.Dim("tokens"), torch.export.Dim("queries")
    shapes = ({0: batch, 1: tokens}, None, None, {0: batch, 1: queries}, {0: batch, 1: queries})
    program = torch.onnx.export(_Attention().eval(), tuple(inputs[name] for name in INPUT_NAMES), dynamo=True,
                                dynamic_shapes=shapes, custom_translation_table=TRANSLATIONS, opset_version=OPSET,
                                input_names=list(INPUT_NAMES), optimize=False, verbose=False)
    path = tmp_path_factory.mktemp("lowering") / "ms_deform_attn.onnx"
    program.save(str(path))
    assert not any(node.domain == "detr_family" for node in program.model.graph)  # fully decomposed
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("levels, batch, queries", [
    (((6, 5), (3, 4), (2, 2)), 2, 7),  # the export shapes
    (((9, 7), (5, 4), (1, 3)), 3, 11),  # other level sizes, batch and queries
    (((2, 9), (8, 1), (4, 4)), 1, 4),
])
def test_lowering_matches_kernel(session, levels, batch, queries):
    inputs = random_inputs(levels, batch=batch, heads=2, channels=4, queries=queries, points=3,
                           dtype=torch.float32, seed=len(levels) + batch)
    output = session.run(None, {name: inputs[name].numpy() for name in INPUT_NAMES})[0]
    expected = ops.ms_deform_attn(*(inputs[name] for name in INPUT_NAMES))
    # float32 bilinear sums in another order (GridSample vs the kernel): ~1e-7 of unit-scale values.
    torch.testing.assert_close(torch.from_numpy(output), expected, rtol=1e-5, atol=1e-5)

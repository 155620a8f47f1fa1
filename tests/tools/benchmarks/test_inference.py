"""tools/benchmarks/inference.py on tiny models (milliseconds per call): one table row per config,
size and thread count, every requested backend timed beside eager, "n/a" for the op's reference
where a model has no deformable attention."""
import contextlib
import io

import pytest
from detectron2.modeling import build_model

import ops
from projects.config import load_config
from tests.tools.tool_utils import DETR_CONFIG, QUICKSTART, ROOT, TINY_OPTS, load_tool

SIZE = ["--sizes", "64x96", "--threads", "1", "--repeats", "1"]


@pytest.fixture(scope="module")
def tool():
    return load_tool("benchmarks/inference")


def run_tool(tool, argv):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        tool.main(argv)
    return printed.getvalue()


def table_rows(printed):
    """{config: [cells]} of the printed Markdown table's body."""
    lines = [line for line in printed.splitlines() if line.startswith("| ") and " --- " not in line][1:]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines)}


def config_with_the_op():
    """The first quickstart config whose model runs the deformable-attention op (found, not named)."""
    for path in sorted(QUICKSTART.glob("*.yaml")):
        model = build_model(load_config(str(path), [*TINY_OPTS, "MODEL.DEVICE", "cpu"]))
        if ops.set_reference_mode(model, False):
            return str(path)
    pytest.skip("no quickstart config uses the deformable-attention op")


@pytest.mark.skipif(not ops.kernel_available("cpu"), reason="the reference backend needs ops._C's CPU kernel")
def test_eager_and_reference_for_a_model_with_and_without_the_op(tool):
    with_op = config_with_the_op()
    printed = run_tool(tool, ["--backends", "reference", *SIZE, "--config-file", DETR_CONFIG, with_op,
                              "--", *TINY_OPTS])
    rows = table_rows(printed)
    assert list(rows) == [DETR_CONFIG, with_op]
    for config, (size, threads, eager, reference) in rows.items():
        assert (size, threads) == ("64x96", "1") and eager.endswith("]") and " s [" in eager
    assert rows[DETR_CONFIG][3] == "n/a"
    assert rows[with_op][3].endswith("x)")  # seconds and the ratio to eager


def test_onnx_backends_both_lowerings(tool):
    pytest.importorskip("onnxruntime", reason="needs the deploy extra (pip install -e .[deploy])")
    printed = run_tool(tool, ["--backends", "onnx_gridsample", "onnx_gather", *SIZE, "--config-file", DETR_CONFIG,
                              "--", *TINY_OPTS])
    assert "median [min-max] of 1 calls" in printed
    eager, gridsample, gather = table_rows(printed)[DETR_CONFIG][2:]
    assert eager.endswith("]") and gridsample.endswith("x)") and gather.endswith("x)")


def test_default_configs_and_quick_mode(tool):
    args = tool.parse_args(["--quick", "--", "MODEL.DETR.NHEADS", "4"])
    assert args.config_file == tool.DEFAULT_CONFIGS and all((ROOT / path).is_file() for path in args.config_file)
    assert (args.sizes, args.threads, args.repeats) == (["256x256"], [1], 2)
    assert args.opts[-2:] == ["MODEL.DETR.NHEADS", "4"] and args.backends == tool.DEFAULT_BACKENDS

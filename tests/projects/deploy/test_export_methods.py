"""Every method's tiny model, its frozen batch norms folded, exported to ONNX (the default gather
lowering of the deformable attention op) and with torch.export (dynamic batch, height, width) and
compared with PyTorch eager on two embedded-dataset images of other sizes than the export sample (as
a padded pair and alone); and what the folding changed. The exports run in two worker processes (one per CPU core of
the CI machine) before the per-method tests read their results."""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
import torch

from ops import MSDeformAttn, kernel_available
from projects.deploy.requirements import missing_modules

from .export_jobs import export_and_run
from .tiny_methods import METHODS, tiny_model

pytestmark = [
    pytest.mark.skipif(bool(missing_modules("onnx", "onnxscript", "onnxruntime")),
                       reason="needs the deploy extra (pip install -e .[deploy])"),
    pytest.mark.skipif(not kernel_available("cpu"), reason="needs the compiled op ops._C"),
]
# Issue tolerances: scores within 1e-4, boxes within 1e-2 px; labels are integers.
SCORE_TOLERANCE, BOX_TOLERANCE = 1e-4, 1e-2


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{method: results dict (see export_jobs._run) or {"error": traceback}}."""
    output_dir = tmp_path_factory.mktemp("exports")
    methods = list(METHODS)
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {method: pool.submit(export_and_run, method, str(output_dir)) for method in methods}
        outcomes = {method: future.result() for method, future in futures.items()}
    loaded = {}
    for method, outcome in outcomes.items():
        loaded[method] = torch.load(outcome["results"], weights_only=False) if "results" in outcome else outcome
    return loaded


def _results(exports, method):
    results = exports[method]
    assert "error" not in results, results.get("error")
    return results


def assert_same_detections(actual, expected):
    boxes, scores, labels = (torch.as_tensor(value) for value in actual)
    assert boxes.shape == expected[0].shape and torch.equal(labels.long(), expected[2])
    torch.testing.assert_close(scores, expected[1], rtol=0, atol=SCORE_TOLERANCE)
    torch.testing.assert_close(boxes, expected[0], rtol=0, atol=BOX_TOLERANCE)


@pytest.mark.parametrize("method", list(METHODS))
def test_onnx_matches_eager(exports, method):
    import onnxruntime

    results = _results(exports, method)
    session = onnxruntime.InferenceSession(results["files"]["onnx"], providers=["CPUExecutionProvider"])
    for name, (images, sizes) in results["batches"].items():
        assert tuple(images.shape[-2:]) != results["sample_size"]
        outputs = session.run(None, {"images": images.numpy(), "image_sizes": sizes.numpy()})
        assert_same_detections(outputs, results["eager"][name])


@pytest.mark.parametrize("method", list(METHODS))
def test_torch_export_matches_eager_and_survives_save_load(exports, method):
    results = _results(exports, method)
    for name in results["batches"]:
        assert_same_detections(results["program"][name], results["eager"][name])
        assert_same_detections(results["loaded"][name], results["eager"][name])
    assert results["metadata"]["meta_architecture"]  # the runner settings travel with the program
    attention_modules = sum(isinstance(module, MSDeformAttn) for module in tiny_model(method).modules())
    if attention_modules:  # each deformable attention module: the registered op, one node each
        assert results["op_nodes"] >= attention_modules
    else:
        assert results["op_nodes"] == 0


@pytest.mark.parametrize("method", list(METHODS))
def test_folding_frozen_batchnorm_changes_only_rounding(exports, method):
    results = _results(exports, method)
    for name in results["batches"]:
        assert_same_detections(results["eager"][name], results["unfolded"][name])


@pytest.mark.parametrize("method", list(METHODS))
def test_exported_core_equals_detectron2_inference(exports, method):
    """The wrapper runs what model(batched_inputs) runs: same detections on one image."""
    results = _results(exports, method)
    instances = results["instances"]
    boxes, scores, labels = (value[0] for value in results["eager"]["single"])
    order = torch.argsort(scores, descending=True, stable=True)
    expected_order = torch.argsort(instances.scores, descending=True, stable=True)
    # float32 model outputs: 1e-4; detector_postprocess clips boxes to the image, so compare clipped.
    torch.testing.assert_close(scores[order], instances.scores[expected_order], rtol=0, atol=1e-4)
    height, width = instances.image_size
    clipped = torch.stack([boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height),
                           boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)], 1)
    torch.testing.assert_close(clipped[order], instances.pred_boxes.tensor[expected_order], rtol=0, atol=1e-4)
    assert torch.equal(labels[order], instances.pred_classes[expected_order])

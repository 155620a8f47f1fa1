"""tools/deploy/export_model.py: one-line errors before any work, and a whole run per format; then
tools/deploy/onnx_inference.py (no torch, no detectron2) on its ONNX file against the PyTorch model."""
import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest
import torch

from ops import kernel_available
from projects.deploy.requirements import missing_modules

from tests.tools.tool_utils import save_random_checkpoint

from .tiny_methods import QUICKSTART, ROOT, TINY, embedded_val_images

CONFIG = str(QUICKSTART / "detr_embedded.yaml")
OPTS = [str(value) for value in TINY]
needs_deploy_extra = pytest.mark.skipif(bool(missing_modules("onnx", "onnxscript", "onnxruntime")),
                                        reason="needs the deploy extra (pip install -e .[deploy])")


def _load_tool():
    spec = importlib.util.spec_from_file_location("export_model_tool", ROOT / "tools" / "deploy" / "export_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


export_model = _load_tool()


@pytest.fixture
def no_model_building(monkeypatch):
    """Fail the test if the tool gets as far as building the model."""
    def refuse(cfg):
        raise AssertionError("the tool built the model before rejecting its inputs")

    monkeypatch.setattr(export_model, "BatchPredictor", refuse)


def _error(argv):
    with pytest.raises(SystemExit) as raised:
        export_model.main(argv)
    return str(raised.value.code)


def test_unknown_format(tmp_path, capsys, no_model_building):
    assert _error(["--config-file", CONFIG, "--format", "tflite", "--output", str(tmp_path)]) == "2"
    assert "invalid choice: 'tflite'" in capsys.readouterr().err


def test_missing_weights_file(tmp_path, no_model_building):
    message = _error(["--config-file", CONFIG, "--format", "torch_export", "--output", str(tmp_path),
                      "MODEL.WEIGHTS", str(tmp_path / "absent.pth")])
    assert message == f"error: MODEL.WEIGHTS file not found: {tmp_path / 'absent.pth'}"


def test_unreadable_sample_image(tmp_path, no_model_building):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    message = _error(["--config-file", CONFIG, "--format", "torch_export", "--output", str(tmp_path),
                      "--sample-image", str(broken)])
    assert message.startswith(f"error: cannot read image {broken}") and "\n" not in message


def test_missing_deploy_extra_names_it(tmp_path, monkeypatch, no_model_building):
    monkeypatch.setattr(export_model, "missing_modules", lambda *names: ["onnxruntime"])
    message = _error(["--config-file", CONFIG, "--format", "onnx", "--output", str(tmp_path)])
    assert message == "error: --format onnx needs onnxruntime, from the 'deploy' extra: pip install -e .[deploy]"


def test_fold_frozen_bn_is_on_by_default_and_formats_include_aoti():
    args = export_model.parse_args(["--config-file", CONFIG, "--format", "aoti", "--output", "out"])
    assert args.fold_frozen_bn and args.lowering == "gather"
    args = export_model.parse_args(["--config-file", CONFIG, "--format", "onnx", "--output", "out",
                                    "--no-fold-frozen-bn", "--lowering", "gridsample"])
    assert not args.fold_frozen_bn and args.lowering == "gridsample"


@pytest.mark.skipif(not kernel_available("cpu"), reason="needs the compiled op ops._C")
def test_torch_export_run_writes_a_loadable_program(tmp_path, monkeypatch):
    folded, real_fold = [], export_model.fold_frozen_batchnorm

    def counting_fold(model):
        folded.append(real_fold(model))
        return folded[-1]

    monkeypatch.setattr(export_model, "fold_frozen_batchnorm", counting_fold)
    path, differences = export_model.main(["--config-file", CONFIG, "--format", "torch_export",
                                           "--output", str(tmp_path), *OPTS])
    assert folded and folded[0] > 0  # the tiny model's eval-mode batch norms, folded by default
    assert path.endswith("model.pt2")
    # The tool's own check on the sample batch; float32 (scores 1e-4, boxes 1e-2 px), labels exact.
    assert differences["scores"] <= 1e-4 and differences["boxes"] <= 1e-2 and differences["labels"] == 0


# Runs onnx_inference.py where importing torch or detectron2 fails.
NO_TORCH = textwrap.dedent("""
    import runpy, sys
    for name in ("torch", "detectron2"):
        sys.modules[name] = None
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


@needs_deploy_extra
def test_onnx_run_and_onnx_inference_without_torch(tmp_path):
    from projects.visualization import BatchPredictor, read_image
    from projects.config import load_config

    image = embedded_val_images(1)[0]
    opts = [*OPTS, "MODEL.WEIGHTS", save_random_checkpoint(CONFIG, OPTS, tmp_path / "random.pth")]
    path, differences = export_model.main(["--config-file", CONFIG, "--format", "onnx", "--output", str(tmp_path),
                                           "--sample-image", image, *opts])
    assert differences["scores"] <= 1e-4 and differences["boxes"] <= 1e-2 and differences["labels"] == 0
    detections = tmp_path / "detections.json"
    done = subprocess.run([sys.executable, "-c", NO_TORCH, str(ROOT / "tools" / "deploy" / "onnx_inference.py"),
                           "--model", path, "--input", image, "--confidence-threshold", "0", "--json",
                           str(detections), "--output", str(tmp_path / "drawn")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "drawn" / image.split("/")[-1]).is_file()
    found = json.loads(detections.read_text())[image]
    cfg = load_config(CONFIG, opts)
    expected = BatchPredictor(cfg)([read_image(image, cfg.INPUT.FORMAT)])[0]
    expected = expected[torch.argsort(expected.scores, descending=True, stable=True)]
    assert len(found) == len(expected)
    # The runner's own PIL resize and postprocessing: scores within 1e-4, boxes within 1e-2 px (float32).
    torch.testing.assert_close(torch.tensor([item["score"] for item in found]), expected.scores, rtol=0, atol=1e-4)
    torch.testing.assert_close(torch.tensor([item["box"] for item in found]), expected.pred_boxes.tensor,
                               rtol=0, atol=1e-2)
    assert [item["label"] for item in found] == expected.pred_classes.tolist()

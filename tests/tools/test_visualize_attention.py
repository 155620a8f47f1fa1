"""tools/visualize_attention.py: figures for every quickstart config through the recorder its method
registered (projects.registry; each method's recorder is tested with its method's tests), clean errors,
and detections that are the model's own."""
from pathlib import Path

import pytest
import torch

from projects.registry import registered_methods
from projects.visualization import ToolInputError
from projects.visualization.attention import attention_recorders, build_recorder, top_detections
from tests.harness.attention_utils import recorded
from tests.tools.tool_utils import QUICKSTART, load_tool, read_rgb, tiny_opts

visualize_attention = load_tool("visualize_attention")
METHOD_CONFIGS = sorted(QUICKSTART.glob("*.yaml"))


@pytest.fixture(scope="module")
def image(val_pngs):
    return read_rgb(val_pngs[0])  # INPUT.FORMAT is RGB in every quickstart config


def test_every_registered_meta_architecture_has_a_recorder():
    architectures = {name for method in registered_methods().values() for name in method.meta_architectures}
    assert architectures and architectures <= set(attention_recorders())


@pytest.mark.parametrize("config", METHOD_CONFIGS, ids=[c.stem for c in METHOD_CONFIGS])
def test_every_method_writes_its_figures(config, val_pngs, tmp_path):
    """--pixel is drawn by the recorders that show encoder attention and ignored by the others."""
    written = visualize_attention.main(["--config-file", str(config), "--input", val_pngs[0], "--output",
                                        str(tmp_path), "--top-k", "1", "--pixel", "60,50", *tiny_opts(config)])
    assert written and all(Path(p).parent == tmp_path for p in written)
    for path in written:
        figure = read_rgb(path)
        assert figure.shape[0] > 100 and figure.std() > 10  # a drawn figure, not a blank canvas


def test_unregistered_model_ends_with_one_line():
    with pytest.raises(ToolInputError, match=r"^no attention figures for Linear \(registered: "):
        build_recorder(torch.nn.Linear(1, 1))


def test_top_k_zero_and_bad_pixel_end_with_one_line(val_pngs, tmp_path):
    base = ["--config-file", str(QUICKSTART / "detr_embedded.yaml"), "--input", val_pngs[0], "--output", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"^error: --top-k must be at least 1, got 0$"):
        visualize_attention.main([*base, "--top-k", "0"])
    with pytest.raises(SystemExit) as raised:
        visualize_attention.main([*base, "--pixel", "12"])
    assert raised.value.code == 2  # argparse's own one-line usage error


@pytest.mark.parametrize("config_name", ["detr_embedded", "deformable_detr_embedded"])
def test_detections_are_the_model_s_own(config_name, image):
    model, recorder, instances = recorded(config_name, image)
    detections = top_detections(recorder.outputs, model.class_loss, 5)
    expected = instances.scores.sort(descending=True).values[:5]
    # the model's inference scores, selected again from the same logits by the same functions
    torch.testing.assert_close(torch.tensor([d.score for d in detections]), expected, atol=1e-6, rtol=0)
    for detection in detections:
        assert torch.equal(detection.box, recorder.outputs["pred_boxes"][0, detection.query])

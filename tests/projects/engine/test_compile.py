"""torch.compile of every method (MODEL.COMPILE): ``predict`` compiles as one graph
(fullgraph=True, so any graph break fails) in eval mode and for a training step, and gives the
eager results. Graph capture is what can break, so the per-method test runs Dynamo with the
"eager" backend; one Deformable DETR training step also goes through AOTAutograd ("aot_eager":
forward and backward graphs, the op's backward included). Inductor's code generation is left out
to keep the tests fast."""
import pytest
import torch

from detectron2.structures import Boxes, Instances
from ops import kernel_available
from projects.engine.compile import compile_if_configured, compile_model

from tests.projects.deploy.tiny_methods import METHODS, random_images, tiny_config, tiny_model

pytestmark = pytest.mark.skipif(not kernel_available("cpu"), reason="needs the compiled op ops._C")


def _inputs(with_targets):
    """Two images of different sizes (the model pads them); with targets for training."""
    inputs = []
    for index, image in enumerate(random_images([(96, 128), (80, 100)], seed=3)):
        item = {"image": image.to(torch.uint8), "height": image.shape[1], "width": image.shape[2]}
        if with_targets:
            instances = Instances(tuple(image.shape[1:]))
            instances.gt_boxes = Boxes(torch.tensor([[10.0, 12.0, 60.0, 50.0], [30.0, 5.0, 70.0, 75.0]][:index + 1]))
            instances.gt_classes = torch.tensor([1, 2][:index + 1])
            item["instances"] = instances
        inputs.append(item)
    return inputs


def _no_dropout_model(method):
    torch.manual_seed(0)
    model = tiny_model(method)  # quickstart configs; dropout off so that eager and compiled agree
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def _compare_inference(eager, compiled):
    with torch.no_grad():
        expected = eager(_inputs(False))
        actual = compiled(_inputs(False))
    for found, wanted in zip(actual, expected):
        found, wanted = found["instances"], wanted["instances"]
        # float32 model outputs: 1e-4 (the compiled graph runs the same ops, regrouped).
        torch.testing.assert_close(found.scores, wanted.scores, rtol=0, atol=1e-4)
        torch.testing.assert_close(found.pred_boxes.tensor, wanted.pred_boxes.tensor, rtol=0, atol=1e-4)


def _compare_training_step(eager, compiled):
    eager.train(), compiled.train()
    torch.manual_seed(0)  # the same random draws for both (denoising methods noise their queries each step)
    expected_losses = eager(_inputs(True))
    torch.manual_seed(0)
    losses = compiled(_inputs(True))
    assert losses.keys() == expected_losses.keys()
    for name in losses:
        # losses: 1e-6 of their scale (float32 sums in the compiled graph's order).
        torch.testing.assert_close(losses[name], expected_losses[name], rtol=1e-6, atol=1e-6)
    sum(losses.values()).backward()
    grads = [p.grad for p in compiled.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads[-10:])


@pytest.mark.parametrize("method", list(METHODS))
def test_predict_compiles_fullgraph_for_inference_and_training(method):
    torch._dynamo.reset()
    eager, compiled = _no_dropout_model(method), compile_model(_no_dropout_model(method), backend="eager")
    _compare_inference(eager, compiled)
    _compare_training_step(eager, compiled)


def test_training_step_through_aot_autograd():
    torch._dynamo.reset()
    method = "deformable_detr_refine_embedded"
    _compare_training_step(_no_dropout_model(method), compile_model(_no_dropout_model(method), backend="aot_eager"))


def test_model_compile_switch():
    model = _no_dropout_model("detr_embedded")
    assert compile_if_configured(model, tiny_config("detr_embedded")).predict.__func__ is type(model).predict
    compiled = compile_if_configured(model, tiny_config("detr_embedded", ["MODEL.COMPILE", True]))
    assert compiled is model and not hasattr(model.predict, "__func__")  # the compiled wrapper
    assert "predict" not in "".join(model.state_dict())  # checkpoints are unchanged

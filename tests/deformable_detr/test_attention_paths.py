"""A model on the compiled op and the same model forced onto the PyTorch reference agree.

Tolerance 1e-5 on outputs and gradients: both paths compute the same bilinear sums in float32,
only the summation order differs (measured differences ~1e-7).
"""
import pytest
import torch

import ops.function
from ops import kernel_available, set_reference_mode
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import cached_fixture, image_batch

pytestmark = pytest.mark.skipif(not kernel_available("cpu"),
                                reason="needs the compiled op ops._C (python setup.py build_ext --inplace)")
ATOL = 1e-5


def outputs_and_gradients(model, variant):
    """Training-style pass on the fixture batch: outputs and the gradient of the total loss."""
    fixture = cached_fixture("deformable_detr", variant)
    inputs = fixture["inputs"]
    model.zero_grad()
    images, pixel_mask = model.preprocess_image(image_batch(inputs["image_sizes"].tolist()))
    outputs = model.predict(model.backbone(images.tensor, pixel_mask), torch.as_tensor(images.image_sizes), pixel_mask)
    losses = model.criterion(outputs, fixture["criterion"]["targets"])
    model.criterion.total_loss(losses).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return outputs, grads


def count_reference_calls(monkeypatch):
    calls = []
    original = ops.function.ms_deform_attn_reference
    monkeypatch.setattr(ops.function, "ms_deform_attn_reference", lambda *a: calls.append(1) or original(*a))
    return calls


@pytest.mark.parametrize("variant", ["multi_scale", "box_refine"])  # 2-d and 4-d references
def test_compiled_and_reference_models_agree(variant, monkeypatch):
    model = build_fixture_model("deformable_detr", variant)
    calls = count_reference_calls(monkeypatch)
    compiled, compiled_grads = outputs_and_gradients(model, variant)
    assert not calls, "the compiled kernel was not used"
    assert set_reference_mode(model, True) == 3  # 1 encoder + 2 decoder layers
    reference, reference_grads = outputs_and_gradients(model, variant)
    assert calls, "the reference was not used"
    torch.testing.assert_close(compiled["pred_logits"], reference["pred_logits"], atol=ATOL, rtol=0)
    torch.testing.assert_close(compiled["pred_boxes"], reference["pred_boxes"], atol=ATOL, rtol=0)
    assert set(compiled_grads) == set(reference_grads)
    assert compiled_grads["transformer.encoder.layers.0.self_attn.sampling_offsets.weight"].abs().sum() > 0
    for name, grad in compiled_grads.items():
        torch.testing.assert_close(grad, reference_grads[name], atol=ATOL, rtol=0, msg=name)


def test_config_selects_the_reference():
    model = build_fixture_model("deformable_detr", "single_scale",
                                ["MODEL.DEFORMABLE_DETR.ATTENTION_IMPL", "reference"])
    flags = [m.use_reference for m in model.modules() if hasattr(m, "use_reference")]
    assert flags and all(flags)

"""Non-finite predictions or losses stop training at once, naming the tensor and the iteration
(issue 10, item 5): the matcher never sees NaN boxes and no NaN step reaches the weights."""
import pytest
import torch

from detectron2.utils.events import get_event_storage

from projects.engine.trainer import Trainer
from projects.engine.finite_checks import check_finite_predictions

from tests.harness.fast_config import fast_cfg


def _trainer(tmp_path):
    trainer = Trainer(fast_cfg(tmp_path, extra=["SOLVER.MAX_ITER", 5]))
    trainer.resume_or_load(resume=False)
    return trainer


def _all_finite(model):
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_nan_predictions_stop_before_the_matcher(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path)
    model = trainer.model_without_ddp
    predict = model.predict

    def diverging_predict(*args):
        outputs = predict(*args)
        if get_event_storage().iter >= 2:
            outputs["pred_boxes"] = outputs["pred_boxes"] * float("nan")
        return outputs

    monkeypatch.setattr(model, "predict", diverging_predict)
    # FloatingPointError, not the matcher's "must be xyxy boxes" ValueError
    with pytest.raises(FloatingPointError, match=r"iteration 2: pred_boxes has \d+ NaN/inf values"):
        trainer.train()
    assert _all_finite(model)


def test_nan_loss_is_named_with_its_iteration(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path)
    criterion = trainer.model_without_ddp.criterion
    forward = criterion.forward

    def nan_giou(outputs, targets, *args, **kwargs):
        losses = forward(outputs, targets, *args, **kwargs)
        if get_event_storage().iter == 1:
            losses["loss_giou_0"] = losses["loss_giou_0"] + float("inf")
        return losses

    monkeypatch.setattr(criterion, "forward", nan_giou)
    with pytest.raises(FloatingPointError, match=r"Loss loss_giou_0 became inf at iteration 1"):
        trainer.train()
    assert _all_finite(trainer.model_without_ddp)


def test_aux_layer_is_named():
    finite = torch.zeros(1, 3, 4)
    outputs = {"pred_logits": finite, "pred_boxes": finite,
               "aux_outputs": [{"pred_boxes": finite}, {"pred_boxes": torch.full((1, 3, 4), float("nan"))}]}
    with pytest.raises(FloatingPointError, match=r"aux_outputs\[1\]\.pred_boxes has 12 NaN/inf values of 12"):
        check_finite_predictions(outputs)
    outputs["aux_outputs"].pop()
    check_finite_predictions(outputs)  # all finite: no error

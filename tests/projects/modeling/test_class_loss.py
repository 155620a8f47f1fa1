"""One class-loss vocabulary: MODEL.DETR.CLASS_LOSS is checked once by the model's ``from_config``,
and the model, its criterion and its matcher all hold the same value; the model's inference
selection follows its ``class_loss``."""
import pytest
import torch

from detectron2.config import get_cfg

from projects.config import add_detr_config
from projects.modeling.backbone import MaskedBackbone
from projects.modeling.class_loss import CLASS_LOSSES, check_class_loss, check_method_config
from projects.modeling.criterion import SetCriterion
from projects.modeling.matcher import HungarianMatcher
from projects.modeling.meta_arch import DETRBase
from tests.harness.model_utils import StubBackbone


class AnyLossDETR(DETRBase):
    """A method that accepts either class loss (``class_loss`` None)."""

    method_name = "AnyLoss"


class FocalOnlyDETR(DETRBase):
    method_name = "FocalOnly"
    class_loss = "focal"
    supports_pre_norm = False


def detr_cfg(class_loss="softmax", pre_norm=False):
    cfg = get_cfg()
    add_detr_config(cfg)
    cfg.MODEL.DETR.CLASS_LOSS = class_loss
    cfg.MODEL.DETR.PRE_NORM = pre_norm
    return cfg


def base_kwargs(class_loss):
    criterion = SetCriterion(num_classes=3, matcher=HungarianMatcher(class_cost=class_loss), weight_dict={},
                             class_loss=class_loss)
    backbone = MaskedBackbone(StubBackbone([torch.zeros(1, 4, 2, 2)], [32]), ["res5"])
    return {"backbone": backbone, "criterion": criterion, "pixel_mean": [0.0] * 3, "pixel_std": [1.0] * 3}


def test_vocabulary_check_names_the_key():
    assert CLASS_LOSSES == ("softmax", "focal")
    assert check_class_loss("focal") == "focal"
    expected = r"^MODEL\.DETR\.CLASS_LOSS must be one of \('softmax', 'focal'\), got 'sigmoid'$"
    with pytest.raises(ValueError, match=expected):
        check_class_loss("sigmoid")


def test_method_config_check():
    assert check_method_config(detr_cfg("focal"), "FocalOnly", "focal", pre_norm=False) == "focal"
    assert check_method_config(detr_cfg("softmax"), "AnyLoss") == "softmax"
    expected = r"^FocalOnly is trained with the 'focal' class loss: set MODEL\.DETR\.CLASS_LOSS 'focal', got 'softmax'$"
    with pytest.raises(ValueError, match=expected):
        check_method_config(detr_cfg("softmax"), "FocalOnly", "focal")
    with pytest.raises(ValueError, match=r"^FocalOnly has post-norm layers only"):
        check_method_config(detr_cfg("focal", pre_norm=True), "FocalOnly", "focal", pre_norm=False)


@pytest.mark.parametrize("class_loss", CLASS_LOSSES)
def test_model_criterion_and_matcher_share_the_config_value(class_loss, monkeypatch):
    checked = []
    monkeypatch.setattr("projects.modeling.meta_arch.build_masked_backbone",
                        lambda cfg, names: base_kwargs(class_loss)["backbone"])
    monkeypatch.setattr("projects.modeling.meta_arch.check_method_config",
                        lambda *args, **kwargs: checked.append(args) or check_method_config(*args, **kwargs))
    model = AnyLossDETR(detr_cfg(class_loss))
    assert len(checked) == 1  # read and checked once per build
    assert model.class_loss == model.criterion.class_loss == model.criterion.matcher.class_cost == class_loss


def test_constructor_class_loss_defaults_to_the_method_s_and_is_checked():
    assert FocalOnlyDETR(**base_kwargs("focal")).class_loss == "focal"
    assert AnyLossDETR(**base_kwargs("softmax")).class_loss == "softmax"
    with pytest.raises(ValueError, match=r"^FocalOnly is trained with the 'focal' class loss: set class_loss 'focal', "
                                         r"got 'softmax'$"):
        FocalOnlyDETR(**base_kwargs("focal"), class_loss="softmax")
    with pytest.raises(ValueError, match=r"^class_loss must be one of"):
        AnyLossDETR(**base_kwargs("softmax"), class_loss="sigmoid_topk")


@pytest.mark.parametrize("class_loss,count", [("softmax", 4), ("focal", 5)])
def test_inference_selection_follows_the_class_loss(class_loss, count):
    model = AnyLossDETR(**base_kwargs(class_loss), class_loss=class_loss, num_topk_test=5)
    logits = torch.randn(1, 4, 4 if class_loss == "softmax" else 3, generator=torch.Generator().manual_seed(0))
    outputs = {"pred_logits": logits, "pred_boxes": torch.full((1, 4, 4), 0.5)}
    scores, labels, boxes = model.detections(outputs, torch.tensor([[10, 20]]))
    assert scores.shape == (1, count) and labels.shape == (1, count) and boxes.shape == (1, count, 4)

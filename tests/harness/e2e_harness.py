"""One end-to-end test harness for every method (the pattern of detectron2's tests/modeling/test_model_e2e.py).

A method's end-to-end tests are a subclass of ``ModelE2EMixin`` that names its config file (the
config's keys come from the registered methods, ``projects.config.load_config``)::

    class TestMyMethod(ModelE2EMixin):
        CONFIG_FILE = "configs/quickstart/my_method_embedded.yaml"

The class builds the config's model at tiny CPU sizes (tests/harness/e2e_utils.py, then the class's
``OVERRIDES``), trains it ``TRAIN_STEPS`` steps inside an EventStorage on two embedded-dataset
images (one with objects, one without), and its tests share that model: finite losses and
gradients, every parameter with a gradient trained, a batch with no objects at all, the inference
output format, and a DetectionCheckpointer save/load round trip.
"""
import copy
import math
from dataclasses import dataclass
from typing import Dict, List

import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model
from detectron2.structures import Instances
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import EventStorage

from projects.data import DetrDatasetMapper
from projects.engine.solver import build_detr_optimizer
from tests.harness.e2e_utils import tiny_cfg
from tests.harness.tolerances import assert_close, assert_same_detections

TRAIN_STEPS = 2
DECODER_LOSSES = ("loss_ce", "loss_bbox", "loss_giou")
BOX_LOSSES = ("loss_bbox", "loss_giou")


@dataclass
class TrainedModel:
    cfg: object
    model: torch.nn.Module
    step_losses: List[Dict[str, torch.Tensor]]  # the weighted losses of every step
    nonfinite_grads: List[str]  # parameters with a non-finite gradient at any step
    first_grad_max: Dict[str, float]  # max |gradient| of every parameter at the first step
    initial: Dict[str, torch.Tensor]  # parameters before training
    logged: set  # names the model put into the EventStorage


def train_steps(cfg, records, steps=TRAIN_STEPS, seed=0):
    """Build ``cfg``'s model and train ``steps`` steps on the mapped ``records`` (one batch)."""
    seed_all_rng(seed)  # the model's init and the mapper's random flips
    model = build_model(cfg)
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = build_detr_optimizer(cfg, model)
    mapper = DetrDatasetMapper(cfg, is_train=True)
    batch = [mapper(record) for record in records]
    step_losses, step_grads = [], []
    model.train()
    with EventStorage() as storage:
        for _ in range(steps):
            losses, grads = _step(model, optimizer, batch)
            step_losses.append(losses)
            step_grads.append(grads)
            storage.step()
    nonfinite = {name for grads in step_grads for name, grad in grads.items() if not torch.isfinite(grad).all()}
    first_grad_max = {name: float(grad.abs().max()) for name, grad in step_grads[0].items()}
    return TrainedModel(cfg, model, step_losses, sorted(nonfinite), first_grad_max, initial, set(storage.histories()))


def _step(model, optimizer, batch):
    """One optimizer step -> (the weighted losses, {parameter name: gradient before the step})."""
    losses = model(batch)
    optimizer.zero_grad()
    sum(losses.values()).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    optimizer.step()
    return {name: value.detach() for name, value in losses.items()}, grads


def eval_inputs(cfg, records):
    """Dataset records mapped for inference (resized to the test size; height/width stay the original)."""
    mapper = DetrDatasetMapper(cfg, is_train=False)
    return [mapper(record) for record in records]


def infer(model, inputs):
    """Eval-mode forward without gradients -> [Instances] at each input's original size."""
    model.eval()
    with torch.no_grad():
        return [output["instances"] for output in model(inputs)]


class ModelE2EMixin:
    """End-to-end tests of one config; a subclass sets CONFIG_FILE (see the module docstring)."""

    CONFIG_FILE: str = None
    OVERRIDES = ()  # the variant's config lines, after TINY_OVERRIDES
    EXTRA_LOSSES = ()  # weighted losses beyond the decoder's (e.g. two-stage "_enc" losses)
    TRAINED_PARAMETERS = ()  # parameters the method needs to learn (checked to get a gradient)

    @pytest.fixture(scope="class")
    @classmethod
    def trained(cls, train_records):
        """The class's model after TRAIN_STEPS steps, shared by its tests (each test copies what it changes)."""
        cfg = tiny_cfg(cls.CONFIG_FILE, extra=cls.OVERRIDES)
        return train_steps(cfg, train_records)

    def expected_losses(self, cfg):
        aux = [f"{name}_{layer}" for layer in range(cfg.MODEL.DETR.DEC_LAYERS - 1) for name in DECODER_LOSSES]
        return set(DECODER_LOSSES) | set(aux) | set(self.EXTRA_LOSSES)

    def test_training_steps_give_finite_losses_and_gradients(self, trained):
        assert len(trained.step_losses) == TRAIN_STEPS
        for losses in trained.step_losses:
            assert set(losses) == self.expected_losses(trained.cfg)
            assert all(math.isfinite(float(value)) for value in losses.values()), losses
        assert trained.nonfinite_grads == []
        assert "class_error" in trained.logged  # log-only metrics reach the event storage

    def test_every_parameter_with_a_gradient_is_trained(self, trained):
        # Adam moves a parameter by ~lr (2e-4) per step whatever its gradient's scale (> 1e-8);
        # weight decay alone moves it by lr * 1e-4 * |p| ~ 2e-8.
        needs = {name for name, value in trained.first_grad_max.items() if value > 1e-6}
        moved = {name for name, p in trained.model.named_parameters()
                 if float((p.detach() - trained.initial[name]).abs().max()) > 1e-6}
        assert needs and needs <= moved, sorted(needs - moved)
        assert set(self.TRAINED_PARAMETERS) <= needs

    def test_batch_without_objects(self, trained, train_records):
        model = copy.deepcopy(trained.model).train()
        empty = DetrDatasetMapper(trained.cfg, is_train=True)(train_records[1])
        assert len(empty["instances"]) == 0
        with EventStorage():
            losses = model([empty])
        assert set(losses) == self.expected_losses(trained.cfg)
        assert all(torch.isfinite(value) for value in losses.values()), losses
        for name, value in losses.items():
            if name.startswith(BOX_LOSSES):  # a sum over no matched boxes: exactly 0 on any machine
                assert_close(value, torch.zeros(()), atol=0, msg=name)
        sum(losses.values()).backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)

    def test_inference_output_format(self, trained, train_records):
        cfg = trained.cfg
        inputs = eval_inputs(cfg, train_records)
        assert tuple(inputs[0]["image"].shape[1:]) != (inputs[0]["height"], inputs[0]["width"])  # resized
        detr = cfg.MODEL.DETR
        if detr.CLASS_LOSS == "focal":  # top-k (query, class) pairs of the sigmoid scores
            expected = min(detr.NUM_TOPK_TEST, detr.NUM_OBJECT_QUERIES * detr.NUM_CLASSES)
        else:  # one detection per query
            expected = detr.NUM_OBJECT_QUERIES
        for instances, item in zip(infer(trained.model, inputs), inputs):
            height, width = item["height"], item["width"]
            assert isinstance(instances, Instances) and instances.image_size == (height, width)
            assert set(instances.get_fields()) == {"pred_boxes", "scores", "pred_classes"}
            assert len(instances) == expected
            classes, scores, boxes = instances.pred_classes, instances.scores, instances.pred_boxes.tensor
            assert classes.dtype == torch.int64 and bool(((classes >= 0) & (classes < detr.NUM_CLASSES)).all())
            assert bool(((scores >= 0) & (scores <= 1)).all())
            assert torch.isfinite(boxes).all()
            assert bool((boxes[:, 0::2] <= width).all() and (boxes[:, 1::2] <= height).all() and (boxes >= 0).all())

    def test_checkpoint_round_trip(self, trained, train_records, tmp_path):
        DetectionCheckpointer(trained.model, save_dir=str(tmp_path)).save("model_final")
        seed_all_rng(1)  # a different init, so that only the load can make the models equal
        restored = build_model(trained.cfg)
        DetectionCheckpointer(restored).load(str(tmp_path / "model_final.pth"))
        saved = trained.model.state_dict()
        assert set(restored.state_dict()) == set(saved)
        for name, value in restored.state_dict().items():
            # a load copies the stored values: bit-identical on any machine, hence no tolerance
            assert_close(value, saved[name], atol=0, msg=name)
        inputs = eval_inputs(trained.cfg, train_records)
        for ours, theirs in zip(infer(restored, inputs), infer(trained.model, inputs)):  # float32 model outputs
            assert_same_detections(ours, {"scores": theirs.scores, "labels": theirs.pred_classes,
                                          "boxes": theirs.pred_boxes.tensor})

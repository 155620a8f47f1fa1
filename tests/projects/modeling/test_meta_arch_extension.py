"""DETRBase extension point for denoising methods (DN-DETR, DINO): ``predict`` receives the prepared
targets in training (None at inference) and may return extra items that the method's criterion
consumes, so such a method overrides ``predict`` and its criterion, never ``forward``."""
import torch
from torch import nn
from torch.nn import functional as F

from detectron2.structures import Boxes, Instances

from projects.modeling.backbone import MaskedBackbone
from projects.modeling.criterion import SetCriterion, make_weight_dict
from projects.layers.boxes import boxes_from_reference
from projects.modeling.matcher import HungarianMatcher
from projects.modeling.meta_arch import DETRBase
from tests.harness.model_utils import StubBackbone

NUM_CLASSES, NUM_QUERIES, CHANNELS = 3, 4, 8
DN_WEIGHT = 3.0


class ToyDenoisingDETR(DETRBase):
    """Pooled-feature queries, plus one denoising query per target box whose prediction is an offset
    from that box (DN-DETR's idea, without the noise): the denoising group is built from the targets."""

    def __init__(self, **base_kwargs):
        super().__init__(**base_kwargs)
        self.class_head = nn.Linear(CHANNELS, NUM_CLASSES)
        self.box_head = nn.Linear(CHANNELS, 4)
        self.dn_offset = nn.Parameter(torch.full((1, 4), 0.1))
        self.seen_targets = []

    def predict(self, levels, image_sizes, pixel_mask, targets=None):
        self.seen_targets.append(targets)
        feature, _ = levels[-1]
        queries = feature.mean((2, 3))[:, None].expand(-1, NUM_QUERIES, -1)  # [B, Q, C]
        outputs = {"pred_logits": self.class_head(queries), "pred_boxes": self.box_head(queries).sigmoid()}
        if targets is not None:
            outputs["dn_boxes"] = [boxes_from_reference(self.dn_offset.expand(len(t["boxes"]), 4), t["boxes"])
                                   for t in targets]
        return outputs


class ToyDenoisingCriterion(SetCriterion):
    """The shared set losses plus ``loss_dn``: L1 of each denoising prediction to the box it came from."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.received = []

    def forward(self, outputs, targets, indices=None):
        self.received.append(outputs)
        losses = super().forward(outputs, targets, indices)
        losses["loss_dn"] = sum(F.l1_loss(boxes, t["boxes"], reduction="sum")
                                for boxes, t in zip(outputs["dn_boxes"], targets))
        return losses


def build_model():
    weight_dict = {**make_weight_dict(class_weight=2.0, bbox_weight=5.0, giou_weight=2.0), "loss_dn": DN_WEIGHT}
    criterion = ToyDenoisingCriterion(
        num_classes=NUM_CLASSES, matcher=HungarianMatcher(class_cost="focal"), weight_dict=weight_dict,
        class_loss="focal",
    )
    features = [torch.randn(2, CHANNELS, 3, 4, generator=torch.Generator().manual_seed(0))]
    backbone = MaskedBackbone(StubBackbone(features, [32]), ["res5"])
    return ToyDenoisingDETR(backbone=backbone, criterion=criterion, pixel_mean=[0.0, 0.0, 0.0],
                            pixel_std=[1.0, 1.0, 1.0], class_loss="focal", num_topk_test=5)


def training_batch():
    """Two images: one with two boxes, one without instances (an empty denoising group)."""
    first = Instances((64, 96))
    first.gt_boxes = Boxes(torch.tensor([[8.0, 4.0, 40.0, 30.0], [50.0, 20.0, 90.0, 60.0]]))
    first.gt_classes = torch.tensor([0, 2])
    second = Instances((80, 72))
    second.gt_boxes = Boxes(torch.zeros(0, 4))
    second.gt_classes = torch.zeros(0, dtype=torch.int64)
    return [{"image": torch.zeros(3, 64, 96), "instances": first}, {"image": torch.zeros(3, 80, 72), "instances": second}]


def test_training_predict_receives_targets_and_criterion_gets_its_extra_outputs():
    model = build_model().train()
    batch = training_batch()
    losses = model(batch)

    received_targets = model.seen_targets[-1]
    expected_targets = model.prepare_targets(batch)
    assert [len(t["labels"]) for t in received_targets] == [2, 0]
    for got, expected in zip(received_targets, expected_targets):
        assert torch.equal(got["labels"], expected["labels"])  # int64 labels
        torch.testing.assert_close(got["boxes"], expected["boxes"], atol=1e-6, rtol=0)  # float32 normalised boxes

    (outputs,) = model.criterion.received
    assert [len(boxes) for boxes in outputs["dn_boxes"]] == [2, 0]
    # the extra loss is weighted through the criterion's weight_dict like every other loss
    expected_dn = F.l1_loss(outputs["dn_boxes"][0], received_targets[0]["boxes"], reduction="sum")
    assert expected_dn.item() > 0
    torch.testing.assert_close(losses["loss_dn"], DN_WEIGHT * expected_dn, atol=1e-6, rtol=0)  # loss tolerance
    assert {"loss_ce", "loss_bbox", "loss_giou"} <= set(losses)

    sum(losses.values()).backward()
    assert model.dn_offset.grad is not None and model.dn_offset.grad.abs().sum() > 0


def test_inference_passes_no_targets_and_skips_the_criterion():
    model = build_model().eval()
    batch = [{"image": item["image"]} for item in training_batch()]
    with torch.no_grad():
        results = model(batch)
    assert model.seen_targets == [None, None]  # one predict per image size (MODEL.DETR.INFERENCE_UNPADDED)
    assert model.criterion.received == []
    assert [len(r["instances"]) for r in results] == [5, 5]  # num_topk_test detections per image

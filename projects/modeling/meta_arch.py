"""The base meta-architecture every DETR-family detector in this project derives from.

It owns everything the methods share: pixel normalisation and padding (with the padding mask the
official code derives per level), target preparation (normalised cxcywh), the loss call and its
logging, aux-output assembly, and inference to Detectron2 ``Instances``. A method overrides only
``predict`` (and ``from_config`` to add its modules).
"""
from typing import Dict, List, Optional

import torch
from torch import nn

from detectron2.config import configurable
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import get_event_storage

from projects.modeling.backbone import MaskedBackbone, build_masked_backbone
from projects.layers.boxes import box_xyxy_to_cxcywh
from projects.modeling.class_loss import check_method_class_loss, check_method_config
from projects.modeling.criterion import Targets, build_criterion
from projects.modeling.postprocess import scale_boxes, select_sigmoid_topk, select_softmax

LOG_ONLY_LOSSES = ("class_error", "cardinality_error")


def pack_outputs(class_logits, boxes, with_aux=True):
    """Per-layer predictions -> the criterion's output dict.

    class_logits: [L, B, Q, K]; boxes: [L, B, Q, 4] -> {"pred_logits": [B, Q, K], "pred_boxes": [B, Q, 4],
    "aux_outputs": [{...} for layers 0..L-2]} (aux only when ``with_aux``).
    """
    outputs = {"pred_logits": class_logits[-1], "pred_boxes": boxes[-1]}
    if with_aux:
        outputs["aux_outputs"] = [
            {"pred_logits": logits, "pred_boxes": layer_boxes}
            for logits, layer_boxes in zip(class_logits[:-1], boxes[:-1])
        ]
    return outputs


def same_size_groups(batched_inputs: List[Dict]) -> List[List[int]]:
    """Indices of the inputs grouped by image size (the "image" tensor's [H, W]), in first-seen order."""
    groups: Dict[tuple, List[int]] = {}
    for index, item in enumerate(batched_inputs):
        groups.setdefault(tuple(item["image"].shape[-2:]), []).append(index)
    return list(groups.values())


class DETRBase(nn.Module):
    """Shared image/target handling, loss and inference for set-prediction detectors.

    Subclasses implement ``predict(levels, image_sizes, pixel_mask, targets=None) -> outputs``, where
    ``levels`` is the backbone adapter's list of (feature [B, C_l, H_l, W_l], mask [B, H_l, W_l]),
    ``image_sizes`` [B, 2] the unpadded (h, w), ``pixel_mask`` [B, H, W] the padding mask (for levels
    a method derives itself, e.g. Deformable DETR's extra stride-64 level) and ``targets`` the
    prepared targets (see ``prepare_targets``) in training, None at inference. ``outputs`` holds
    ``pred_logits`` [B, Q, K(+1)], ``pred_boxes`` [B, Q, 4] (normalised cxcywh), optional
    ``aux_outputs`` and ``enc_outputs``, and any further items the method's criterion consumes
    (e.g. denoising groups built from the targets): the whole dict goes to the criterion, while
    inference reads only ``pred_logits`` and ``pred_boxes``.

    Class attributes a method sets: ``method_name`` (for config errors), ``class_loss`` ("softmax" or
    "focal": the one place a method states its class loss; None accepts MODEL.DETR.CLASS_LOSS as
    given) and ``supports_pre_norm``. A built model's ``class_loss`` is the one it was constructed
    with (always set). ``criterion_from_config(cfg, class_loss)`` builds the criterion (override it
    when the method's criterion supervises more outputs).
    """

    method_name = "DETR-family model"
    class_loss: Optional[str] = None
    supports_pre_norm = True

    @configurable
    def __init__(self, *, backbone: MaskedBackbone, criterion: nn.Module, pixel_mean, pixel_std,
                 class_loss: Optional[str] = None, num_topk_test: int = 100, inference_unpadded: bool = True):
        """
        Args:
            backbone: the adapter producing per-level features and masks.
            criterion: a SetCriterion; its ``weighted_losses`` gives the training losses.
            pixel_mean, pixel_std: per-channel statistics in the input format (e.g. RGB, 0..255).
            class_loss: "softmax" or "focal" (projects.modeling.class_loss); it also selects the
                detections at inference: softmax keeps one per query (arg-max over the real classes,
                the last logit is no-object), focal the top ``num_topk_test`` (query, class) pairs of
                the sigmoid scores. None: the method's own ``class_loss`` ("softmax" when it has none).
            num_topk_test: k of the focal selection.
            inference_unpadded: at inference, run each group of same-size images on its own, so no
                image is padded and its detections do not depend on the other images of the batch
                (training always pads, as the papers do). False: one padded batch, as the official code.
        """
        super().__init__()
        self.class_loss = self._checked_class_loss(class_loss)
        self.backbone = backbone
        self.criterion = criterion
        self.num_topk_test = num_topk_test
        self.inference_unpadded = inference_unpadded
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    def _checked_class_loss(self, class_loss: Optional[str]) -> str:
        """The constructor's ``class_loss`` (None: the method's), checked against the method's own."""
        required = type(self).class_loss
        if class_loss is None:
            return required or "softmax"
        return check_method_class_loss(class_loss, self.method_name, required, name="class_loss")

    @classmethod
    def from_config(cls, cfg):
        """MODEL.DETR.CLASS_LOSS is read and checked here, once, and handed to the criterion."""
        detr = cfg.MODEL.DETR
        class_loss = check_method_config(cfg, cls.method_name, cls.class_loss, pre_norm=cls.supports_pre_norm)
        return {
            "backbone": build_masked_backbone(cfg, detr.IN_FEATURES),
            "criterion": cls.criterion_from_config(cfg, class_loss),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "class_loss": class_loss,
            "num_topk_test": detr.NUM_TOPK_TEST,
            "inference_unpadded": detr.INFERENCE_UNPADDED,
        }

    @classmethod
    def criterion_from_config(cls, cfg, class_loss: str) -> nn.Module:
        """The set criterion (built once, here) for the checked ``class_loss``; e.g. Deformable DETR's
        adds the two-stage loss."""
        return build_criterion(cfg, class_loss)

    @property
    def device(self):
        return self.pixel_mean.device

    def predict(self, levels, image_sizes, pixel_mask, targets: Optional[Targets] = None) -> Dict:
        """levels: [(feature, mask)] per level; image_sizes: [B, 2] (h, w) int64 unpadded sizes;
        pixel_mask: [B, H, W] bool (True = padding); targets: prepared targets (training) or None."""
        raise NotImplementedError

    def forward(self, batched_inputs: List[Dict]):
        """Detectron2 model API: a list of dataset dicts -> losses (training) or [{"instances"}].

        At inference with ``inference_unpadded``, each group of same-size images runs as its own
        (unpadded) batch and the results come back in input order.
        """
        if self.training or not self.inference_unpadded:
            return self.forward_padded(batched_inputs)
        results = [None] * len(batched_inputs)
        for indices in same_size_groups(batched_inputs):
            for index, result in zip(indices, self.forward_padded([batched_inputs[i] for i in indices])):
                results[index] = result
        return results

    def forward_padded(self, batched_inputs: List[Dict]):
        """``forward`` on one batch padded to its largest image (see ``preprocess_image``)."""
        images, pixel_mask = self.preprocess_image(batched_inputs)
        image_sizes = torch.as_tensor(images.image_sizes, dtype=torch.int64, device=self.device)
        targets = self.prepare_targets(batched_inputs) if self.training else None
        outputs = self.predict(self.backbone(images.tensor, pixel_mask), image_sizes, pixel_mask, targets)
        if self.training:
            return self.losses(outputs, targets)
        results = self.inference(outputs, image_sizes)
        return self.postprocess(results, batched_inputs)

    def preprocess_image(self, batched_inputs):
        """Normalise, then zero-pad bottom/right to the batch max size (official: no divisibility).

        Returns an ImageList [B, 3, H, W] and the pixel mask [B, H, W] (True = padding).
        """
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        images = ImageList.from_tensors(images)
        batch, _, height, width = images.tensor.shape
        pixel_mask = torch.ones((batch, height, width), dtype=torch.bool, device=self.device)
        for index, (h, w) in enumerate(images.image_sizes):
            pixel_mask[index, :h, :w] = False
        return images, pixel_mask

    def prepare_targets(self, batched_inputs):
        """Instances (abs xyxy in the augmented image) -> [{"labels": [n], "boxes": [n, 4] norm. cxcywh}]."""
        targets = []
        for item in batched_inputs:
            if "instances" not in item:
                raise ValueError("Training needs 'instances' in every input dict (use a training mapper).")
            instances = item["instances"].to(self.device)
            height, width = instances.image_size
            scale = torch.tensor([width, height, width, height], dtype=torch.float32, device=self.device)
            boxes = box_xyxy_to_cxcywh(instances.gt_boxes.tensor / scale)
            targets.append({"labels": instances.gt_classes.long(), "boxes": boxes})
        return targets

    def losses(self, outputs, targets):
        """Weighted losses for the trainer; the log-only metrics go to the event storage."""
        loss_dict = self.criterion(outputs, targets)
        self._log_metrics({k: v for k, v in loss_dict.items() if k in LOG_ONLY_LOSSES})
        return self.criterion.weighted_losses(loss_dict)

    @staticmethod
    def _log_metrics(metrics):
        try:
            storage = get_event_storage()
        except AssertionError:  # called outside a trainer (e.g. a unit test): nothing to log to
            return
        for name, value in metrics.items():
            storage.put_scalar(name, float(value))

    def detections(self, outputs, image_sizes):
        """The tensor part of inference (also what tools/deploy exports): outputs, image_sizes [B, 2]
        (h, w) -> scores [B, K], labels [B, K] int64, boxes [B, K, 4] absolute xyxy in the resized
        (unpadded) input frame."""
        if self.class_loss == "softmax":
            scores, labels, boxes = select_softmax(outputs["pred_logits"], outputs["pred_boxes"])
        else:
            scores, labels, boxes = select_sigmoid_topk(
                outputs["pred_logits"], outputs["pred_boxes"], self.num_topk_test
            )
        return scores, labels, scale_boxes(boxes, image_sizes)

    def inference(self, outputs, image_sizes) -> List[Instances]:
        """outputs -> per-image Instances in the resized (unpadded) input frame."""
        scores, labels, boxes = self.detections(outputs, image_sizes)
        results = []
        for index, (h, w) in enumerate(image_sizes.tolist()):
            instances = Instances((h, w))
            instances.pred_boxes = Boxes(boxes[index])
            instances.scores = scores[index]
            instances.pred_classes = labels[index]
            results.append(instances)
        return results

    @staticmethod
    def postprocess(results, batched_inputs):
        """Rescale to each input's original (height, width), as Detectron2's evaluators expect."""
        processed = []
        for instances, item in zip(results, batched_inputs):
            height = item.get("height", instances.image_size[0])
            width = item.get("width", instances.image_size[1])
            processed.append({"instances": detector_postprocess(instances, height, width)})
        return processed

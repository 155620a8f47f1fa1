"""Set-prediction losses shared by DETR, Deformable DETR, Conditional DETR and SMCA.

``SetCriterion`` follows the official DETR design: a ``losses`` list dispatched through
``get_loss``, a ``weight_dict``, aux decoder layers suffixed ``_0``, ``_1``, ... and the box
count averaged across workers. The class loss is softmax cross-entropy with a down-weighted
no-object class (DETR) or sigmoid focal loss (the fast-converging family), chosen by
``class_loss``. ``TwoStageSetCriterion`` adds Deformable DETR's encoder-proposal loss (``_enc``).
"""
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.utils import comm
from torch import Tensor, nn

from projects.layers.boxes import box_cxcywh_to_xyxy, paired_generalized_box_iou
from projects.modeling.class_loss import check_class_loss
from projects.modeling.matcher import HungarianMatcher, MatchIndices
from projects.utils.precision import float32_tree, full_precision

DEFAULT_LOSSES = ("labels", "boxes", "cardinality")

Targets = List[Dict[str, Tensor]]


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, num_boxes: float, alpha: float = 0.25,
                       gamma: float = 2.0) -> Tensor:
    """Focal loss (Lin et al. 2017, eq. 5) summed over all elements and divided by ``num_boxes``.

    logits, targets: same shape (targets binary, float). Official Deformable/Conditional DETR write
    this as mean over queries times num_queries; SMCA as a plain sum; both equal sum / num_boxes.
    """
    prob = logits.sigmoid()
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    prob_true = prob * targets + (1 - prob) * (1 - targets)
    loss = bce * (1 - prob_true) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.sum() / num_boxes


def average_num_boxes(targets: Targets, device: torch.device) -> float:
    """Number of target boxes in the batch, averaged over workers and clamped to >= 1."""
    num_boxes = torch.as_tensor([float(sum(len(t["labels"]) for t in targets))], device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(num_boxes)
    return torch.clamp(num_boxes / comm.get_world_size(), min=1).item()


def make_weight_dict(*, class_weight: float, bbox_weight: float, giou_weight: float,
                     num_aux_layers: int = 0, with_enc: bool = False) -> Dict[str, float]:
    """Loss weights for the final layer, copied to each aux layer (``_i``) and optionally ``_enc``."""
    base = {"loss_ce": class_weight, "loss_bbox": bbox_weight, "loss_giou": giou_weight}
    suffixes = [""] + [f"_{i}" for i in range(num_aux_layers)] + (["_enc"] if with_enc else [])
    return {name + suffix: weight for suffix in suffixes for name, weight in base.items()}


def box_part_losses(l1: Tensor, num_boxes: float) -> Dict[str, Tensor]:
    """Logging only (official DAB-DETR / DN-DETR / DINO): the L1 box loss split into its centre and size
    parts, ``loss_xy`` and ``loss_hw``. l1: [M, 4] per-coordinate L1 of the matched boxes (cxcywh)."""
    return {"loss_xy": l1[:, :2].sum() / num_boxes, "loss_hw": l1[:, 2:].sum() / num_boxes}


def matched_query_index(indices: MatchIndices) -> Tuple[Tensor, Tensor]:
    """(batch_idx [M], query_idx [M]) of all matched queries, for indexing [B, Q, ...] tensors."""
    batch_idx = torch.cat([torch.full_like(query, image) for image, (query, _) in enumerate(indices)])
    query_idx = torch.cat([query for query, _ in indices])
    return batch_idx, query_idx


class SetCriterion(nn.Module):
    """Hungarian-matched set losses of a DETR-style detector.

    ``forward`` returns unweighted losses; ``weighted_losses`` / ``total_loss`` apply ``weight_dict``.
    Keys (official names): ``loss_ce``, ``class_error`` (final layer only), ``loss_bbox``,
    ``loss_giou``, ``cardinality_error``, and the same with ``_i`` for ``outputs["aux_outputs"][i]``.
    ``class_error`` and ``cardinality_error`` are logging metrics without gradient.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        matcher: nn.Module,
        weight_dict: Dict[str, float],
        losses: Sequence[str] = DEFAULT_LOSSES,
        class_loss: str = "softmax",
        eos_coef: float = 0.1,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        log_box_parts: bool = False,
        giou_eps: float = 0.0,
    ):
        """
        Args:
            num_classes: number of object classes K, without no-object. Softmax logits are
                [B, Q, K+1] (index K = no-object); focal logits are [B, Q, C] with every label < C.
            matcher: maps (outputs, targets) to per-image (query_idx, target_idx) pairs.
            weight_dict: loss name -> weight; names absent from it are logged only.
            losses: which of "labels", "boxes", "cardinality" to compute.
            class_loss: "softmax" (cross-entropy, no-object weighted by ``eos_coef``) or "focal".
            eos_coef: softmax only: relative weight of the no-object class.
            focal_alpha, focal_gamma: focal only.
            log_box_parts: the boxes loss also logs ``loss_xy`` and ``loss_hw`` (``box_part_losses``).
            giou_eps: added to the GIoU loss's denominators (official DAB-DETR, DN-DETR, DINO box_ops: 1e-6).
        """
        super().__init__()
        check_class_loss(class_loss, "class_loss")
        unknown = set(losses) - set(self._loss_map())
        if unknown:
            raise ValueError(f"unknown losses {sorted(unknown)}; available: {sorted(self._loss_map())}")
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = dict(weight_dict)
        self.losses = list(losses)
        self.class_loss = class_loss
        self.eos_coef = eos_coef
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.log_box_parts = log_box_parts
        self.giou_eps = giou_eps
        if class_loss == "softmax":
            empty_weight = torch.ones(num_classes + 1)
            empty_weight[-1] = eos_coef
            # Not persistent: it is derived from eos_coef, so checkpoints need not carry it.
            self.register_buffer("empty_weight", empty_weight, persistent=False)

    def extra_repr(self) -> str:
        return f"class_loss={self.class_loss}, num_classes={self.num_classes}, losses={self.losses}"

    # ----- individual losses: (outputs, targets, indices, num_boxes) -> dict -----

    def loss_labels(self, outputs, targets: Targets, indices: MatchIndices, num_boxes: float,
                    log: bool = True) -> Dict[str, Tensor]:
        """``loss_ce`` (+ ``class_error`` when ``log``) from ``pred_logits`` [B, Q, K(+1)]."""
        logits = outputs["pred_logits"]
        matched = matched_query_index(indices)
        matched_labels = torch.cat([t["labels"][target] for t, (_, target) in zip(targets, indices)])
        if self.class_loss == "focal":
            loss = self._focal_class_loss(logits, matched, matched_labels, num_boxes)
        else:
            loss = self._softmax_class_loss(logits, matched, matched_labels)
        losses = {"loss_ce": loss}
        if log:
            losses["class_error"] = 100 - _top1_accuracy(logits[matched], matched_labels)
        return losses

    def _softmax_class_loss(self, logits: Tensor, matched, matched_labels: Tensor) -> Tensor:
        # Official DETR: weighted mean over all B*Q queries (divided by the summed class weights,
        # not by num_boxes); unmatched queries target the no-object index K.
        target_classes = torch.full(logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device)
        target_classes[matched] = matched_labels
        return F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight.to(logits.dtype))

    def _focal_class_loss(self, logits: Tensor, matched, matched_labels: Tensor, num_boxes: float) -> Tensor:
        # Official: one-hot over the logit columns, unmatched queries all zero (no no-object
        # column is ever positive: Deformable/Conditional drop it, SMCA never sets it).
        one_hot = torch.zeros_like(logits)
        one_hot[matched[0], matched[1], matched_labels] = 1
        return sigmoid_focal_loss(logits, one_hot, num_boxes, self.focal_alpha, self.focal_gamma)

    def loss_boxes(self, outputs, targets: Targets, indices: MatchIndices, num_boxes: float) -> Dict[str, Tensor]:
        """``loss_bbox`` (L1 on normalised cxcywh) and ``loss_giou`` (1 - GIoU), both summed / num_boxes."""
        src_boxes = outputs["pred_boxes"][matched_query_index(indices)]
        target_boxes = torch.cat([t["boxes"][target] for t, (_, target) in zip(targets, indices)])
        l1 = F.l1_loss(src_boxes, target_boxes, reduction="none")
        giou = paired_generalized_box_iou(box_cxcywh_to_xyxy(src_boxes), box_cxcywh_to_xyxy(target_boxes),
                                          self.giou_eps)
        losses = {"loss_bbox": l1.sum() / num_boxes, "loss_giou": (1 - giou).sum() / num_boxes}
        if self.log_box_parts:
            losses.update(box_part_losses(l1.detach(), num_boxes))
        return losses

    @torch.no_grad()
    def loss_cardinality(self, outputs, targets: Targets, indices: MatchIndices,
                         num_boxes: float) -> Dict[str, Tensor]:
        """``cardinality_error``: |#queries whose arg-max is not the last logit - #targets|, batch mean.

        Logging only. Official behaviour, kept even for sigmoid models where the last logit is a
        real class (or an unused no-object column).
        """
        logits = outputs["pred_logits"]
        num_predicted = (logits.argmax(-1) != logits.shape[-1] - 1).sum(1)
        num_targets = torch.as_tensor([len(t["labels"]) for t in targets], device=logits.device)
        return {"cardinality_error": F.l1_loss(num_predicted.float(), num_targets.float())}

    def _loss_map(self):
        return {"labels": self.loss_labels, "boxes": self.loss_boxes, "cardinality": self.loss_cardinality}

    def get_loss(self, loss: str, outputs, targets: Targets, indices: MatchIndices, num_boxes: float,
                 **kwargs) -> Dict[str, Tensor]:
        """Compute the loss named ``loss`` ("labels", "boxes" or "cardinality")."""
        return self._loss_map()[loss](outputs, targets, indices, num_boxes, **kwargs)

    # ----- matching and the per-layer loop -----

    def supervised_outputs(self, outputs, targets: Targets) -> Iterator[Tuple[str, Dict, Targets]]:
        """Yield (key suffix, prediction dict, targets) for every supervised prediction set.

        The final layer has suffix "" and aux decoder layer i has "_i". Subclasses extend this to
        supervise more prediction sets (see ``TwoStageSetCriterion``).
        """
        yield "", outputs, targets
        for i, aux_outputs in enumerate(outputs.get("aux_outputs", [])):
            yield f"_{i}", aux_outputs, targets

    def match(self, outputs, targets: Targets) -> Dict[str, MatchIndices]:
        """Matcher indices for every prediction set, keyed by the loss-key suffix ("", "_0", ...)."""
        return {suffix: self.matcher(layer, layer_targets)
                for suffix, layer, layer_targets in self.supervised_outputs(outputs, targets)}

    def forward(self, outputs, targets: Targets,
                indices: Optional[Dict[str, MatchIndices]] = None) -> Dict[str, Tensor]:
        """
        Args:
            outputs: {"pred_logits": [B, Q, K(+1)], "pred_boxes": [B, Q, 4] normalised cxcywh,
                optional "aux_outputs": list of such dicts (one per earlier decoder layer)}.
            targets: B dicts with "labels" [n_b] int64 and "boxes" [n_b, 4] normalised cxcywh.
            indices: optional precomputed ``self.match(outputs, targets)``; suffixes missing from
                it are matched here.

        Returns:
            dict of unweighted 0-dim losses and metrics (see the class docstring).

        Under autocast (mixed-precision training) matching and losses still run in float32.
        """
        outputs = float32_tree(outputs)
        with full_precision(outputs["pred_logits"].device.type):
            return self._losses(outputs, targets, indices or {})

    def _losses(self, outputs, targets: Targets, indices: Dict[str, MatchIndices]) -> Dict[str, Tensor]:
        num_boxes = average_num_boxes(targets, outputs["pred_logits"].device)
        losses = {}
        for suffix, layer, layer_targets in self.supervised_outputs(outputs, targets):
            layer_indices = indices.get(suffix)
            if layer_indices is None:
                layer_indices = self.matcher(layer, layer_targets)
            for loss in self.losses:
                # Official: class_error is logged for the final layer only.
                kwargs = {"log": suffix == ""} if loss == "labels" else {}
                layer_losses = self.get_loss(loss, layer, layer_targets, layer_indices, num_boxes, **kwargs)
                losses.update({name + suffix: value for name, value in layer_losses.items()})
        return losses

    # ----- weighting -----

    def weighted_losses(self, losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Each loss present in ``weight_dict`` times its weight (logging-only entries dropped)."""
        return {name: value * self.weight_dict[name] for name, value in losses.items() if name in self.weight_dict}

    def total_loss(self, losses: Dict[str, Tensor]) -> Tensor:
        """sum_k weight_dict[k] * losses[k] over the keys of ``losses`` found in ``weight_dict``."""
        return sum(self.weighted_losses(losses).values())


class TwoStageSetCriterion(SetCriterion):
    """SetCriterion plus the two-stage Deformable DETR encoder loss.

    ``outputs["enc_outputs"]`` ({"pred_logits": [B, S, C], "pred_boxes": [B, S, 4]}, one
    prediction per encoder token) is matched and supervised like a decoder layer, with suffix
    ``_enc``, against class-agnostic copies of the targets: every label is 0 (official behaviour),
    so the encoder learns objectness in logit column 0.
    """

    def supervised_outputs(self, outputs, targets: Targets) -> Iterator[Tuple[str, Dict, Targets]]:
        yield from super().supervised_outputs(outputs, targets)
        if "enc_outputs" in outputs:
            yield "_enc", outputs["enc_outputs"], binary_targets(targets)


def binary_targets(targets: Targets) -> Targets:
    """Copies of ``targets`` with every label set to 0 (class-agnostic proposals)."""
    return [{**t, "labels": torch.zeros_like(t["labels"])} for t in targets]


def _top1_accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Percentage of rows of logits [M, C] whose arg-max equals labels [M]; 0 when M = 0 (official)."""
    if labels.numel() == 0:
        return torch.zeros((), device=logits.device)
    return (logits.argmax(-1) == labels).float().mean() * 100


def build_criterion(cfg, class_loss: str, two_stage: bool = False, criterion_class=None, **criterion_kwargs):
    """SetCriterion (or the two-stage variant with ``_enc`` losses) configured by MODEL.DETR.

    class_loss: the model's, already read and checked from MODEL.DETR.CLASS_LOSS by its
    ``from_config`` (``projects.modeling.class_loss.check_method_config``).
    criterion_class, criterion_kwargs: a SetCriterion subclass to build instead (e.g. the denoising
    criterion of projects.modeling.denoising) and its extra constructor arguments.
    """
    detr = cfg.MODEL.DETR
    focal = {"focal_alpha": detr.FOCAL_ALPHA, "focal_gamma": detr.FOCAL_GAMMA}
    matcher = HungarianMatcher(
        cost_class=detr.COST_CLASS, cost_bbox=detr.COST_BBOX, cost_giou=detr.COST_GIOU, class_cost=class_loss, **focal
    )
    weight_dict = make_weight_dict(
        class_weight=detr.CLASS_WEIGHT, bbox_weight=detr.L1_WEIGHT, giou_weight=detr.GIOU_WEIGHT,
        num_aux_layers=detr.DEC_LAYERS - 1 if detr.DEEP_SUPERVISION else 0, with_enc=two_stage,
    )
    criterion_class = criterion_class or (TwoStageSetCriterion if two_stage else SetCriterion)
    return criterion_class(
        num_classes=detr.NUM_CLASSES, matcher=matcher, weight_dict=weight_dict, class_loss=class_loss,
        eos_coef=detr.NO_OBJECT_WEIGHT, **focal, **criterion_kwargs,
    )

"""Hungarian (one-to-one) matching between predicted and ground-truth boxes."""
from typing import Dict, List, Tuple

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from projects.layers.boxes import box_cxcywh_to_xyxy, generalized_box_iou
from projects.modeling.class_loss import check_class_loss
from projects.utils.precision import full_precision

MatchIndices = List[Tuple[Tensor, Tensor]]


def softmax_class_cost(logits: Tensor, labels: Tensor) -> Tensor:
    """DETR class cost: minus the softmax probability of the target class.

    logits: [P, K+1] (last = no-object); labels: [T] -> [P, T]. The official code uses the
    probability, not the log-probability (the constant 1 of 1 - p does not change the matching).
    """
    return -logits.softmax(-1)[:, labels]


def focal_class_cost(logits: Tensor, labels: Tensor, alpha: float, gamma: float) -> Tensor:
    """Deformable/Conditional DETR and SMCA class cost at the target class.

    cost = alpha (1-p)^gamma (-log(p + 1e-8)) - (1-alpha) p^gamma (-log(1-p + 1e-8)), p = sigmoid,
    i.e. the focal loss of a positive minus that of a negative. logits: [P, K]; labels: [T] -> [P, T].
    """
    prob = logits.sigmoid()[:, labels]
    positive = alpha * (1 - prob) ** gamma * -(prob + 1e-8).log()
    negative = (1 - alpha) * prob**gamma * -(1 - prob + 1e-8).log()
    return positive - negative


class HungarianMatcher(nn.Module):
    """Optimal one-to-one assignment of queries to targets per image (scipy linear_sum_assignment).

    The cost is ``cost_bbox * L1(cxcywh) + cost_class * class_cost + cost_giou * (-GIoU)``.
    Queries left unmatched are trained as "no object".
    """

    def __init__(
        self,
        *,
        cost_class: float = 1.0,
        cost_bbox: float = 1.0,
        cost_giou: float = 1.0,
        class_cost: str = "softmax",
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
    ):
        """
        Args:
            cost_class, cost_bbox, cost_giou: weights of the three cost terms (not all zero).
            class_cost: "softmax" (DETR: -p of the target class, logits include no-object) or
                "focal" (the fast-converging family, sigmoid probabilities).
            focal_alpha, focal_gamma: focal-cost parameters; the official matchers hard-code
                0.25 and 2 (they do not follow the loss's alpha setting).
        """
        super().__init__()
        check_class_loss(class_cost, "class_cost")
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError("HungarianMatcher needs at least one non-zero cost weight")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou
        self.class_cost = class_cost
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma

    def extra_repr(self) -> str:
        return (f"class_cost={self.class_cost}, cost_class={self.cost_class}, "
                f"cost_bbox={self.cost_bbox}, cost_giou={self.cost_giou}")

    def _class_cost(self, logits: Tensor, labels: Tensor) -> Tensor:
        if self.class_cost == "focal":
            return focal_class_cost(logits, labels, self.focal_alpha, self.focal_gamma)
        return softmax_class_cost(logits, labels)

    def cost_matrix(self, logits: Tensor, boxes: Tensor, labels: Tensor, target_boxes: Tensor) -> Tensor:
        """Matching cost of predictions vs targets.

        logits: [P, K]; boxes: [P, 4] and target_boxes: [T, 4] normalised cxcywh; labels: [T] -> [P, T].
        """
        cost_l1 = torch.cdist(boxes, target_boxes, p=1)
        cost_class = self._class_cost(logits, labels)
        cost_giou = -generalized_box_iou(box_cxcywh_to_xyxy(boxes), box_cxcywh_to_xyxy(target_boxes))
        return self.cost_bbox * cost_l1 + self.cost_class * cost_class + self.cost_giou * cost_giou

    @torch.no_grad()
    def forward(self, outputs: Dict[str, Tensor], targets: List[Dict[str, Tensor]]) -> MatchIndices:
        """
        Args:
            outputs: {"pred_logits": [B, Q, K], "pred_boxes": [B, Q, 4] normalised cxcywh}.
            targets: B dicts with "labels" [n_b] int64 and "boxes" [n_b, 4] normalised cxcywh.

        Returns:
            B pairs (query_idx [m_b], target_idx [m_b]), int64 on CPU, m_b = min(Q, n_b);
            query_idx ascending, target_idx[i] is the target matched to query_idx[i].
        """
        logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
        batch, num_queries = logits.shape[:2]
        sizes = [len(t["boxes"]) for t in targets]
        if sum(sizes) == 0:
            return [_empty_match() for _ in sizes]
        # One cost matrix for the whole batch (one device-to-host copy), then split per image.
        # float32 even under autocast, so half-precision rounding cannot change the assignment.
        with full_precision(logits.device.type):
            cost = self.cost_matrix(
                logits.flatten(0, 1).float(),
                boxes.flatten(0, 1).float(),
                torch.cat([t["labels"] for t in targets]),
                torch.cat([t["boxes"] for t in targets]).float(),
            )
        cost = cost.view(batch, num_queries, -1).cpu()
        return [_solve(per_image[image]) for image, per_image in enumerate(cost.split(sizes, -1))]


def _empty_match() -> Tuple[Tensor, Tensor]:
    empty = torch.zeros(0, dtype=torch.int64)
    return empty, empty.clone()


def _solve(cost: Tensor) -> Tuple[Tensor, Tensor]:
    """Minimum-cost assignment of a [Q, n] matrix -> (rows ascending, cols), int64."""
    if cost.shape[1] == 0:
        return _empty_match()
    rows, cols = linear_sum_assignment(cost.numpy())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)

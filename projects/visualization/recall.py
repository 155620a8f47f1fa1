"""Recall and precision of saved detections at score thresholds: "how many objects does the model
find if I keep only boxes scoring at least t?", the question a user asks before picking a threshold.

Matching is COCO's at one IoU: per image, the kept detections in descending score each take the
unmatched same-class ground-truth box they overlap most, if that IoU reaches the threshold.
"""
from typing import Dict, List, Sequence

import torch

from detectron2.structures import Boxes, BoxMode, Instances, pairwise_iou


def ground_truth(dataset_dict: dict):
    """(boxes (G, 4) XYXY, classes (G,)) of one image's non-crowd annotations."""
    annotations = [a for a in dataset_dict.get("annotations", []) if not a.get("iscrowd", 0)]
    boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations]
    classes = torch.tensor([a["category_id"] for a in annotations], dtype=torch.int64)
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), classes


def matched_count(found: Instances, gt_boxes: torch.Tensor, gt_classes: torch.Tensor, iou_threshold: float) -> int:
    """How many ground-truth boxes the detections ``found`` (any order) match one-to-one."""
    if len(found) == 0 or len(gt_classes) == 0:
        return 0
    order = torch.argsort(found.scores, descending=True)
    ious = pairwise_iou(found.pred_boxes[order], Boxes(gt_boxes))  # (D, G)
    ious[found.pred_classes[order][:, None] != gt_classes[None, :]] = -1.0
    taken = torch.zeros(len(gt_classes), dtype=torch.bool)
    for row in ious:
        row = row.masked_fill(taken, -1.0)
        best = int(row.argmax())
        if row[best] >= iou_threshold:
            taken[best] = True
    return int(taken.sum())


def recall_at_scores(predictions: Dict[int, Instances], dataset_dicts: List[dict],
                     thresholds: Sequence[float], iou_threshold: float = 0.5) -> List[dict]:
    """One row per score threshold: detections kept, objects found, recall, precision.

    predictions: {image_id: Instances with pred_boxes (D, 4) XYXY, scores (D,), pred_classes (D,)}.
    """
    truths = [(d["image_id"], *ground_truth(d)) for d in dataset_dicts]
    num_objects = sum(len(classes) for _, _, classes in truths)
    rows = []
    for threshold in thresholds:
        kept = found = 0
        for image_id, boxes, classes in truths:
            image = predictions.get(image_id)
            if image is None:
                continue
            image = image[image.scores >= threshold]
            kept += len(image)
            found += matched_count(image, boxes, classes, iou_threshold)
        rows.append({"threshold": threshold, "detections": kept, "found": found, "objects": num_objects,
                     "recall": found / max(num_objects, 1), "precision": found / kept if kept else float("nan")})
    return rows


def best_scores(predictions: Dict[int, Instances], dataset_dicts: List[dict], iou_threshold: float = 0.5) -> torch.Tensor:
    """(objects,) the highest score of a same-class detection at IoU >= ``iou_threshold`` per ground-truth
    object (0 where none), without one-to-one matching: how confidently each object is seen at all."""
    scores = []
    for item in dataset_dicts:
        boxes, classes = ground_truth(item)
        image = predictions.get(item["image_id"])
        if image is None or len(image) == 0 or len(classes) == 0:
            scores.append(torch.zeros(len(classes)))
            continue
        ious = pairwise_iou(image.pred_boxes, Boxes(boxes))  # (D, G)
        hits = (ious >= iou_threshold) & (image.pred_classes[:, None] == classes[None, :])
        scores.append((hits * image.scores[:, None]).amax(dim=0))
    return torch.cat(scores) if scores else torch.zeros(0)

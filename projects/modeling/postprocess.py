"""Turning DETR-family head outputs into detections (softmax and top-k-sigmoid styles)."""
import torch

from projects.layers.boxes import box_cxcywh_to_xyxy


def select_softmax(logits, boxes):
    """Official DETR PostProcess: one detection per query.

    logits: [B, Q, K+1] (last class = no-object); boxes: [B, Q, 4] normalised cxcywh
    -> scores [B, Q], labels [B, Q] int64, boxes [B, Q, 4] normalised cxcywh.
    """
    scores, labels = logits.softmax(-1)[..., :-1].max(-1)
    return scores, labels, boxes


def select_sigmoid_topk(logits, boxes, topk):
    """Official Deformable/Conditional DETR PostProcess: top-k over all (query, class) pairs.

    A query may appear several times with different classes. logits: [B, Q, K]; boxes: [B, Q, 4]
    -> scores [B, k], labels [B, k], boxes [B, k, 4] with k = min(topk, Q*K).
    """
    batch, num_queries, num_classes = logits.shape
    flat = logits.sigmoid().reshape(batch, num_queries * num_classes)
    scores, index = flat.topk(min(topk, flat.shape[1]), dim=1)
    query = torch.div(index, num_classes, rounding_mode="floor")
    labels = index % num_classes
    boxes = torch.gather(boxes, 1, query[..., None].expand(-1, -1, 4))
    return scores, labels, boxes


def scale_boxes(boxes, image_sizes):
    """boxes: [B, N, 4] normalised cxcywh; image_sizes: [B, 2] (h, w) -> [B, N, 4] absolute xyxy."""
    height, width = image_sizes.to(boxes.dtype).unbind(1)
    scale = torch.stack((width, height, width, height), dim=1)[:, None, :]
    return box_cxcywh_to_xyxy(boxes) * scale

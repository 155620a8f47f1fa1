"""The top-k detections of one image with the object query each came from."""
from typing import List, NamedTuple

import torch

from projects.modeling.postprocess import select_sigmoid_topk, select_softmax


class Detection(NamedTuple):
    query: int  # index of the object query
    label: int  # contiguous class id
    score: float
    box: torch.Tensor  # [4] normalised cxcywh, relative to the unpadded input image


def top_detections(outputs, class_loss: str, k: int, image: int = 0) -> List[Detection]:
    """The k best detections of ``image`` as the model's own inference selects them.

    outputs: the model's predictions (pred_logits [B, Q, K(+1)], pred_boxes [B, Q, 4]); class_loss:
    the model's ``class_loss`` ("softmax": one detection per query, "focal": top-k (query, class)
    pairs). The selection functions are the model's; they are handed each query's index in place of
    its box so that they return it.
    """
    logits = outputs["pred_logits"][image:image + 1]
    boxes = outputs["pred_boxes"][image]
    queries = torch.arange(logits.shape[1], dtype=boxes.dtype, device=boxes.device)
    query_boxes = queries[None, :, None].expand(1, -1, 4)
    if class_loss == "softmax":
        scores, labels, picked = select_softmax(logits, query_boxes)
        scores, order = scores[0].topk(min(k, scores.shape[1]))
        labels, picked = labels[0, order], picked[0, order, 0]
    else:
        scores, labels, picked = select_sigmoid_topk(logits, query_boxes, k)
        scores, labels, picked = scores[0], labels[0], picked[0, :, 0]
    return [Detection(int(q), int(c), float(s), boxes[int(q)].detach().cpu())
            for q, c, s in zip(picked.tolist(), labels.tolist(), scores.tolist())]

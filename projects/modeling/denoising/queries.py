"""One batch's denoising queries and the split of the decoder's outputs into their two parts.

Layout of the P = pad_size denoising rows of every image (official DN-DETR and DINO): G groups of
``group_size`` rows, group g at rows [g * group_size, (g + 1) * group_size). DN-DETR: a group is one
noised copy of the image's boxes (group_size = single_pad = the most boxes any image of the batch has);
DINO (contrastive denoising, CDN): a group is a positive copy then a negative copy (group_size =
2 * single_pad). Box k of image b sits at row k of its copy; rows past the image's own boxes are
padding (zero content, zero anchor logits) and are not masked. The decoder sees the P denoising rows
first, then the Q matching queries.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch
from torch import Tensor

from projects.modeling.matcher import MatchIndices

DN_OUTPUTS_KEY = "dn_outputs"
DN_QUERIES_KEY = "dn_queries"


@dataclass
class DenoisingQueries:
    """The denoising part of one training batch (built by ``build_dn_queries`` / ``build_cdn_queries``).

    Decoder inputs (B images, P = ``pad_size`` denoising rows, Q matching queries, C channels):
        content: [B, P, C] content queries (DN-DETR: [label_embedding(noised label), 1]; DINO:
            label_embedding(noised label)); padding rows are zero.
        anchors: [B, P, 4] unsigmoided anchors: inverse_sigmoid(noised cxcywh box, eps 1e-3), as the
            official code feeds them; padding rows are 0 (box 0.5, 0.5, 0.5, 0.5).
        attn_mask: [P + Q, P + Q] bool, True = the row query may NOT attend to the column query
            (decoder self-attention only; see ``denoising_attention_mask``).
    Layout: ``num_groups`` groups of ``group_size`` rows (pad_size = num_groups * group_size);
        ``contrastive`` True for DINO's positive/negative groups.
    Per noised copy of a target box (M = copies * N rows, N = boxes in the batch, ordered copy-major,
    then image, then box: the official order of the random draws):
        batch_index [M], query_index [M] (its row in [0, P)), target_index [M] (index of the box in its
        image's targets), positive [M] bool (False for DINO's negatives), labels [M] (noised labels, the
        label embedding's input), boxes [M, 4] (noised cxcywh boxes in [0, 1], before inverse_sigmoid).
    """

    content: Tensor
    anchors: Tensor
    attn_mask: Tensor
    num_groups: int
    group_size: int
    contrastive: bool
    batch_index: Tensor
    query_index: Tensor
    target_index: Tensor
    positive: Tensor
    labels: Tensor
    boxes: Tensor

    @property
    def pad_size(self) -> int:
        """P: the number of denoising rows per image (0 when the batch has no target box)."""
        return self.num_groups * self.group_size

    @property
    def num_queries(self) -> int:
        """Q: the matching queries the attention mask was built for."""
        return self.attn_mask.shape[0] - self.pad_size

    def positive_indices(self, batch_size: int) -> MatchIndices:
        """The fixed pairs the denoising losses use, in the matcher's format: per image
        (query rows [G * n_b], target indices [G * n_b]), group-major (official DINO ``dn_pos_idx``)."""
        pairs = []
        for image in range(batch_size):
            keep = self.positive & (self.batch_index == image)
            pairs.append((self.query_index[keep], self.target_index[keep]))
        return pairs


def split_denoising(tensor: Tensor, pad_size: int, dim: int = -2) -> Tuple[Tensor, Tensor]:
    """Split the decoder's query axis into (denoising part, matching part) (official ``dn_post_process``).

    tensor: e.g. [L, B, P + Q, X] with the query axis at ``dim`` -> ([L, B, P, X], [L, B, Q, X]).
    pad_size 0 gives an empty denoising part.
    """
    return tensor.narrow(dim, 0, pad_size), tensor.narrow(dim, pad_size, tensor.shape[dim] - pad_size)


def pack_denoising_outputs(class_logits: Tensor, boxes: Tensor, queries: DenoisingQueries,
                           with_aux: bool = True) -> Dict:
    """The criterion's view of the denoising part: ``{DN_OUTPUTS_KEY: {...}, DN_QUERIES_KEY: queries}``.

    class_logits: [L, B, P, K], boxes: [L, B, P, 4] (the denoising part of ``split_denoising``).
    ``DN_OUTPUTS_KEY`` holds "pred_logits" [B, P, K], "pred_boxes" [B, P, 4] of the last layer and
    "aux_outputs" (layers 0..L-2) as ``projects.modeling.meta_arch.pack_outputs`` builds them. Merge the
    result into the model's outputs dict (``outputs.update(...)``).
    """
    dn_outputs = {"pred_logits": class_logits[-1], "pred_boxes": boxes[-1]}
    if with_aux:
        dn_outputs["aux_outputs"] = [{"pred_logits": logits, "pred_boxes": layer_boxes}
                                     for logits, layer_boxes in zip(class_logits[:-1], boxes[:-1])]
    return {DN_OUTPUTS_KEY: dn_outputs, DN_QUERIES_KEY: queries}


def scatter_rows(values: Tensor, queries_shape: Tuple[int, int], batch_index: Tensor,
                 query_index: Tensor) -> Tensor:
    """values [M, X] placed at (batch_index, query_index) of a zero [B, P, X] tensor (padding rows stay 0)."""
    batch_size, pad_size = queries_shape
    out = values.new_zeros((batch_size, pad_size) + tuple(values.shape[1:]))
    out[batch_index, query_index] = values
    return out


def per_image_rows(counts: List[int], device) -> Tuple[Tensor, Tensor]:
    """(batch_index [N], box index in its image [N]) of the batch's N boxes, image by image."""
    sizes = torch.as_tensor(counts, dtype=torch.int64, device=device)
    batch_index = torch.repeat_interleave(torch.arange(len(counts), device=device), sizes)
    starts = torch.cumsum(sizes, 0) - sizes
    return batch_index, torch.arange(len(batch_index), device=device) - starts[batch_index]

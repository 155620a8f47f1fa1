"""The exported core of a DETR-family model: padded pixels and image sizes in, detections out."""
from typing import Tuple

import torch
from torch import Tensor, nn

OUTPUT_NAMES = ("boxes", "scores", "labels")


def padding_mask(image_sizes: Tensor, padded_size) -> Tensor:
    """image_sizes: [B, 2] int64 (h, w); padded_size: (H, W) -> [B, H, W] bool, True on padding
    (bottom/right of each image, as ``DETRBase.preprocess_image`` pads)."""
    height, width = padded_size
    rows = torch.arange(height, device=image_sizes.device)[None, :, None] >= image_sizes[:, 0, None, None]
    cols = torch.arange(width, device=image_sizes.device)[None, None, :] >= image_sizes[:, 1, None, None]
    return rows | cols


class ExportableDetector(nn.Module):
    """Wraps a built ``DETRBase`` model so that its whole inference is tensors only.

    It runs what ``DETRBase.forward`` runs at inference, less the Detectron2 structures: pixel
    normalisation with the model's buffers (padding set to zero after it, as ``ImageList`` pads),
    ``model.backbone``, ``model.predict`` and ``model.detections``. The model is put in eval mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.eval()

    def forward(self, images: Tensor, image_sizes: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """
        Args:
            images: [B, 3, H, W] float pixels (0..255) in the model's ``INPUT.FORMAT`` channel order,
                each image at the top-left, padded bottom/right to H x W (padding values are ignored).
            image_sizes: [B, 2] int64 (h, w) of each unpadded image.

        Returns:
            boxes [B, K, 4] absolute (x0, y0, x1, y1) in the pixels of ``images``, scores [B, K],
            labels [B, K] int64 (contiguous class ids), K = queries (softmax) or NUM_TOPK_TEST (focal).
        """
        model = self.model
        pixel_mask = padding_mask(image_sizes, images.shape[-2:])
        normalised = ((images - model.pixel_mean) / model.pixel_std).masked_fill(pixel_mask[:, None], 0.0)
        outputs = model.predict(model.backbone(normalised, pixel_mask), image_sizes, pixel_mask)
        scores, labels, boxes = model.detections(outputs, image_sizes)
        return boxes, scores, labels

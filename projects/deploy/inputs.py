"""Example inputs of the exported core: padded batches of resized images."""
from typing import Sequence, Tuple

import torch
from torch import Tensor


def batch_images(images: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
    """[3, h_i, w_i] images -> (images [B, 3, H, W] float32 zero-padded bottom/right, image_sizes [B, 2] int64)."""
    sizes = torch.tensor([list(image.shape[-2:]) for image in images], dtype=torch.int64)
    height, width = (int(v) for v in sizes.max(0).values)
    batch = torch.zeros((len(images), 3, height, width), dtype=torch.float32)
    for index, image in enumerate(images):
        batch[index, :, :image.shape[1], :image.shape[2]] = image
    return batch, sizes


def example_batch(image: Tensor) -> Tuple[Tensor, Tensor]:
    """A batch of two to export with: ``image`` [3, h, w] and its top-left 3/4 crop (so the example
    has padding and a batch dimension above one; the exported program accepts any batch and size)."""
    height, width = image.shape[-2:]
    return batch_images([image, image[:, :max(1, height * 3 // 4), :max(1, width * 3 // 4)]])

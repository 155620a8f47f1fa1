"""Geometry of padded feature maps: flattening to tokens and the valid (unpadded) extent of each image."""
import torch
from torch import Tensor


def downsample_mask(pixel_mask: Tensor, size) -> Tensor:
    """Resize a padding mask to a feature level, as the official DETR/Deformable DETR code does.

    Official: ``F.interpolate(mask.float(), size)`` with the default *nearest* mode, so output row i
    reads pixel row floor(i * H_pad / h). This is not ceil(H_img / stride): on sizes that are not
    multiples of the stride the two rules differ by a row or column, and converted checkpoints only
    evaluate as officially with the nearest rule.

    pixel_mask: [B, H_pad, W_pad] bool (True = padding); size: (h, w) -> [B, h, w] bool.

    Computed as F.interpolate's nearest kernel computes its source indices (``nearest_source_index``),
    which gives the same mask and exports to ONNX exactly (ONNX Resize divides by out/in instead and
    rounds some boundary rows the other way).
    """
    height, width = size
    rows = nearest_source_index(pixel_mask.shape[1], height, pixel_mask.device)
    cols = nearest_source_index(pixel_mask.shape[2], width, pixel_mask.device)
    return pixel_mask[:, rows[:, None], cols[None, :]]


def nearest_source_index(input_size, output_size, device) -> Tensor:
    """[output_size] int64: the input index that ``F.interpolate(mode="nearest")`` reads for each
    output index, min(floor(i * s), input_size - 1) with s = input_size / output_size in float32
    (PyTorch's CPU and CUDA kernels; exact for in == out and out == 2 * in, where they skip it)."""
    scale = (torch.scalar_tensor(input_size, dtype=torch.float32, device=device)
             / torch.scalar_tensor(output_size, dtype=torch.float32, device=device))
    index = (torch.arange(output_size, dtype=torch.float32, device=device) * scale).floor().long()
    return index.clamp(max=input_size - 1)


def flatten_level(src: Tensor, mask: Tensor, pos: Tensor):
    """One level to tokens (row-major): src, pos [B, C, H, W] -> [B, H*W, C]; mask [B, H, W] -> [B, H*W]."""
    return src.flatten(2).transpose(1, 2), mask.flatten(1), pos.flatten(2).transpose(1, 2)


def valid_sizes(mask: Tensor) -> Tensor:
    """mask: [B, H, W] (True = padding) -> [B, 2] int64 (valid_w, valid_h).

    Official: valid rows are counted along the first column and valid columns along the first row.
    """
    valid_h = (~mask[:, :, 0]).sum(1)
    valid_w = (~mask[:, 0, :]).sum(1)
    return torch.stack((valid_w, valid_h), dim=-1)


def valid_ratio(mask: Tensor) -> Tensor:
    """mask: [B, H, W] (True = padding) -> [B, 2] (valid_w / W, valid_h / H)."""
    _, height, width = mask.shape
    valid_w, valid_h = valid_sizes(mask).float().unbind(-1)
    return torch.stack((valid_w / width, valid_h / height), dim=-1)

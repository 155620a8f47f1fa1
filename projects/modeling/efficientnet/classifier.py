"""The EfficientNet-Lite ImageNet classifier (trunk + 1000-class ``fc``) and the preprocessing it was trained with.

Preprocessing: the official TF EfficientNet-Lite training normalises RGB pixels on the 0..255 scale with
mean 127 and std 128 (``efficientnet_lite_builder.py``: MEAN_RGB = [127.0] * 3, STDDEV_RGB = [128.0] * 3),
not with the ImageNet statistics the B-series PyTorch ports use; evaluation takes a centre crop of
resolution / (resolution + 32) of the shorter side, resized to the variant's resolution. The test
tests/projects/modeling/test_efficientnet_photos.py shows these statistics classify real photos best.
"""
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from projects.modeling.efficientnet.trunk import HEAD_CHANNELS, VARIANTS, EfficientNetLite
from projects.modeling.efficientnet.weights import imagenet_weights

PIXEL_MEAN = (127.0, 127.0, 127.0)  # RGB, 0..255 scale: the weights' training statistics
PIXEL_STD = (128.0, 128.0, 128.0)
CROP_PADDING = 32  # official eval: centre crop of resolution / (resolution + 32) of the shorter side


class EfficientNetLiteClassifier(nn.Module):
    """Trunk (frozen BatchNorm) -> global average pool -> ``fc`` [num_classes, 1280]."""

    def __init__(self, variant: str = "lite0", num_classes: int = 1000):
        super().__init__()
        self.trunk = EfficientNetLite(variant, out_features=("res5",), norm="FrozenBN")
        self.fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: [B, 3, H, W] normalised RGB -> logits [B, num_classes]."""
        return self.fc(self.trunk(images)["res5"].mean(dim=(2, 3)))


def imagenet_classifier(variant: str = "lite0") -> EfficientNetLiteClassifier:
    """The classifier with the installed package's ImageNet weights, loaded strictly (every key, none left)."""
    model = EfficientNetLiteClassifier(variant)
    weights = imagenet_weights(variant)
    model.load_state_dict({("fc." + k[3:]) if k.startswith("fc.") else f"trunk.{k}": v for k, v in weights.items()})
    return model.eval()


def center_crop_resize(rgb: np.ndarray, resolution: int) -> torch.Tensor:
    """uint8 [H, W, 3] (or [H, W] grey) -> float [3, resolution, resolution] on the 0..255 scale."""
    pixels = torch.as_tensor(np.ascontiguousarray(rgb), dtype=torch.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None].expand(-1, -1, 3)
    pixels = pixels[..., :3].permute(2, 0, 1)
    height, width = pixels.shape[-2:]
    side = int(round(min(height, width) * resolution / (resolution + CROP_PADDING)))
    top, left = (height - side) // 2, (width - side) // 2
    crop = pixels[None, :, top:top + side, left:left + side]
    return F.interpolate(crop, size=(resolution, resolution), mode="bicubic", antialias=True,
                         align_corners=False)[0].clamp(0, 255)


def preprocess(rgb: np.ndarray, variant: str = "lite0", mean: Sequence[float] = PIXEL_MEAN,
               std: Sequence[float] = PIXEL_STD) -> torch.Tensor:
    """A photo -> the normalised [3, R, R] input of ``variant`` (R its training resolution)."""
    pixels = center_crop_resize(rgb, VARIANTS[variant].resolution)
    return (pixels - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]

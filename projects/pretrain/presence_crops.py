"""Shape-presence crops: the classification task the embedded trunk is pretrained on.

Each sample is a square window of a training image (after a random rescale and horizontal flip)
labelled with the shape classes it contains: a class is present when at least ``MIN_INSIDE`` of
one object's box area lies inside the window. Only the images and boxes of the split given are
read (the training split for pretraining), so the detector's validation images stay unseen.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MIN_INSIDE = 0.5  # share of an object's box area that must fall inside the window


@dataclass
class LabelledImage:
    """One image: ``pixels`` uint8 [H, W, 3] RGB, ``boxes`` float [N, 4] xyxy pixels, ``classes`` int [N] (0-based)."""

    pixels: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray


def load_split(dataset_dicts: Sequence[dict]) -> List[LabelledImage]:
    """Detectron2 dataset dicts (XYWH_ABS boxes, contiguous 0-based category ids) -> images in memory."""
    images = []
    for record in dataset_dicts:
        pixels = np.array(Image.open(record["file_name"]).convert("RGB"))
        annotations = record.get("annotations", [])
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                          for a in annotations], dtype=np.float32).reshape(-1, 4)
        classes = np.array([a["category_id"] for a in annotations], dtype=np.int64)
        images.append(LabelledImage(pixels, boxes, classes))
    if not images:
        raise ValueError("the pretraining split holds no images")
    return images


def presence_labels(boxes: np.ndarray, classes: np.ndarray, window: Tuple[float, float, float, float],
                    num_classes: int) -> np.ndarray:
    """Multi-hot [num_classes] of the classes with >= MIN_INSIDE of a box inside ``window`` (xyxy)."""
    labels = np.zeros(num_classes, dtype=np.float32)
    if len(boxes) == 0:
        return labels
    x0 = np.maximum(boxes[:, 0], window[0])
    y0 = np.maximum(boxes[:, 1], window[1])
    x1 = np.minimum(boxes[:, 2], window[2])
    y1 = np.minimum(boxes[:, 3], window[3])
    inside = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    labels[classes[inside >= MIN_INSIDE * np.maximum(area, 1e-6)]] = 1.0
    return labels


@dataclass
class CropSampler:
    """Draws batches of labelled windows; every draw depends only on the generator it is given.

    ``crop``: window side in pixels of the rescaled image; ``scales``: (min, max) rescale factor,
    chosen around the detector's test-time upscaling of these images.
    """

    images: List[LabelledImage]
    num_classes: int
    pixel_mean: Sequence[float]
    pixel_std: Sequence[float]
    crop: int = 128
    scales: Tuple[float, float] = (0.8, 1.6)

    def sample(self, rng: np.random.Generator, batch_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """-> images float [B, 3, crop, crop] (normalised), labels float [B, num_classes] (multi-hot)."""
        crops, labels = zip(*(self._one(rng) for _ in range(batch_size)))
        pixels = torch.stack(crops)
        mean = torch.tensor(self.pixel_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.pixel_std).view(1, 3, 1, 1)
        return (pixels - mean) / std, torch.from_numpy(np.stack(labels))

    def _one(self, rng: np.random.Generator) -> Tuple[torch.Tensor, np.ndarray]:
        item = self.images[rng.integers(len(self.images))]
        scale = rng.uniform(*self.scales)
        height, width = item.pixels.shape[:2]
        new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
        image = torch.from_numpy(item.pixels).permute(2, 0, 1).float()[None]
        image = F.interpolate(image, size=(new_h, new_w), mode="bilinear", align_corners=False)[0]
        boxes = item.boxes * np.array([new_w / width, new_h / height] * 2, dtype=np.float32)
        top = int(rng.integers(0, max(new_h - self.crop, 0) + 1))
        left = int(rng.integers(0, max(new_w - self.crop, 0) + 1))
        window = image[:, top:top + self.crop, left:left + self.crop]
        # images smaller than the window are padded with the mean colour, i.e. zeros once
        # normalised, as the detector pads its batches
        padded = torch.tensor(self.pixel_mean, dtype=torch.float32).view(3, 1, 1).repeat(1, self.crop, self.crop)
        padded[:, :window.shape[1], :window.shape[2]] = window
        labels = presence_labels(boxes, item.classes, (left, top, left + self.crop, top + self.crop), self.num_classes)
        if rng.random() < 0.5:
            padded = padded.flip(-1)  # presence does not change under a flip
        return padded, labels

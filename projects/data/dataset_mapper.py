"""Dataset mapper with the official DETR augmentation and box clean-up."""
import copy
import logging
from typing import List, Tuple, Union

import numpy as np
import torch

from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import Boxes, BoxMode, Instances

from .augmentation import build_detr_augmentation

logger = logging.getLogger(__name__)


class DetrDatasetMapper:
    """Map a Detectron2 dataset dict to the model's input dict, DETR style.

    Steps: read the image in ``image_format``; drop crowd annotations; clip boxes to the original
    image and drop degenerate ones (warned once per image file: these are annotation errors);
    apply the augmentations; clip boxes to the augmented image and drop those left empty (a crop
    may cut objects away: official behaviour, not warned). Images without annotations give empty
    Instances and are never filtered. Segmentation and keypoints are ignored.

    Output dict: the input's fields plus "image" (uint8 tensor [C, H', W']) and, in training,
    "instances" (Instances of size (H', W') with gt_boxes, absolute XYXY in the augmented image,
    and gt_classes, int64 contiguous ids). "height"/"width" stay the original size. In inference
    the annotations are removed.
    """

    @configurable
    def __init__(self, is_train: bool, *, augmentations: List[Union[T.Augmentation, T.Transform]],
                 image_format: str):
        """
        Args:
            is_train: whether to produce training targets.
            augmentations: applied in order (see ``build_detr_augmentation``).
            image_format: a format accepted by ``detection_utils.read_image`` (e.g. "RGB").
        """
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self._warned_files = set()
        mode = "training" if is_train else "inference"
        logger.info("[DetrDatasetMapper] Augmentations used in %s: %s", mode, augmentations)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        return {"is_train": is_train, "augmentations": build_detr_augmentation(cfg, is_train),
                "image_format": cfg.INPUT.FORMAT}

    def __call__(self, dataset_dict: dict) -> dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        utils.check_image_size(dataset_dict, image)
        original_hw = image.shape[:2]

        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))

        annotations = dataset_dict.pop("annotations", [])
        if not self.is_train:
            return dataset_dict
        boxes, classes = self._valid_boxes(annotations, original_hw, dataset_dict["file_name"])
        boxes = transforms.apply_box(boxes) if len(boxes) else boxes
        boxes, keep = _clip_and_keep_nonempty(boxes, image.shape[:2])
        dataset_dict["instances"] = _make_instances(boxes, classes[keep], image.shape[:2])
        return dataset_dict

    def _valid_boxes(self, annotations: List[dict], image_hw: Tuple[int, int],
                     file_name: str) -> Tuple[np.ndarray, np.ndarray]:
        """Non-crowd boxes clipped to the original image, degenerate ones dropped.

        Returns:
            boxes: float64 [N, 4] absolute XYXY.
            classes: int64 [N].
        """
        annotations = [a for a in annotations if a.get("iscrowd", 0) == 0]
        boxes = np.array([BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
                          for a in annotations], dtype=np.float64).reshape(-1, 4)
        classes = np.array([a["category_id"] for a in annotations], dtype=np.int64)
        boxes, keep = _clip_and_keep_nonempty(boxes, image_hw)
        num_dropped = int((~keep).sum())
        if num_dropped and file_name not in self._warned_files:
            self._warned_files.add(file_name)
            logger.warning("%s: dropped %d of %d boxes with zero area or outside the image",
                           file_name, num_dropped, len(keep))
        return boxes, classes[keep]


def _clip_and_keep_nonempty(boxes: np.ndarray, image_hw: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Clip XYXY ``boxes`` [N, 4] to the image; return the non-empty ones and the keep mask [N].

    Official DETR keeps a box when x1 > x0 and y1 > y0 after clamping (datasets/transforms.py crop).
    """
    height, width = image_hw
    clipped = boxes.copy()
    clipped[:, 0::2] = clipped[:, 0::2].clip(0, width)
    clipped[:, 1::2] = clipped[:, 1::2].clip(0, height)
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    return clipped[keep], keep


def _make_instances(boxes: np.ndarray, classes: np.ndarray, image_hw: Tuple[int, int]) -> Instances:
    """Instances with gt_boxes (Boxes, float32 [N, 4]) and gt_classes (int64 [N]); N may be 0."""
    instances = Instances(image_hw)
    instances.gt_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    instances.gt_classes = torch.as_tensor(classes, dtype=torch.int64)
    return instances

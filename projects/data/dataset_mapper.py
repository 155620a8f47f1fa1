"""Dataset mapper with the official DETR augmentation and box clean-up."""
import copy
import logging
from typing import List, Optional, Tuple, Union

import numpy as np
import torch

from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import Boxes, BoxMode, Instances

from projects.data.augmentation import build_detr_augmentation
from projects.data.image_checks import BAD_IMAGE_POLICIES, BadImageError

logger = logging.getLogger(__name__)

SKIPPED_KEY = "bad_images_skipped"  # file names the mapper skipped before producing this dict


class DetrDatasetMapper:
    """Map a Detectron2 dataset dict to the model's input dict, DETR style.

    Steps: read the image in ``image_format`` (an unreadable image or one of another size than
    annotated raises BadImageError naming the file; in training with ``bad_image_policy`` "skip"
    it is logged, the mapper returns None so the loader takes another image, and the next dict
    lists it under "bad_images_skipped"); drop crowd annotations; clip boxes to the original
    image and drop degenerate ones (warned once per image file: these are annotation errors, and
    warned about in inference too, where the evaluator scores the annotation file's boxes);
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
                 image_format: str, bad_image_policy: str = "error"):
        """
        Args:
            is_train: whether to produce training targets.
            augmentations: applied in order (see ``build_detr_augmentation``).
            image_format: a format accepted by ``detection_utils.read_image`` (e.g. "RGB").
            bad_image_policy: "error" or "skip" (training only), see above.
        """
        if bad_image_policy not in BAD_IMAGE_POLICIES:
            raise ValueError(f"DATALOADER.BAD_IMAGE_POLICY must be one of {BAD_IMAGE_POLICIES}, "
                             f"got {bad_image_policy!r}")
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.bad_image_policy = bad_image_policy
        self._warned_files = set()
        self._skipped: List[str] = []
        mode = "training" if is_train else "inference"
        logger.info("[DetrDatasetMapper] Augmentations used in %s: %s", mode, augmentations)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        return {"is_train": is_train, "augmentations": build_detr_augmentation(cfg, is_train),
                "image_format": cfg.INPUT.FORMAT, "bad_image_policy": cfg.DATALOADER.BAD_IMAGE_POLICY}

    def __call__(self, dataset_dict: dict) -> Optional[dict]:
        dataset_dict = copy.deepcopy(dataset_dict)
        image = self._read_image(dataset_dict)
        if image is None:
            return None
        if self._skipped:
            dataset_dict[SKIPPED_KEY], self._skipped = self._skipped, []
        original_hw = image.shape[:2]

        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))

        annotations = dataset_dict.pop("annotations", [])
        if not self.is_train:
            self._valid_boxes(annotations, original_hw, dataset_dict["file_name"])  # for the warning
            return dataset_dict
        boxes, classes = self._valid_boxes(annotations, original_hw, dataset_dict["file_name"])
        boxes = transforms.apply_box(boxes) if len(boxes) else boxes
        boxes, keep = _clip_and_keep_nonempty(boxes, image.shape[:2])
        dataset_dict["instances"] = _make_instances(boxes, classes[keep], image.shape[:2])
        return dataset_dict

    def _read_image(self, dataset_dict: dict) -> Optional[np.ndarray]:
        """The image [H, W, C] checked against the annotated size; None when skipped (see class doc)."""
        file_name = dataset_dict["file_name"]
        try:
            image = utils.read_image(file_name, format=self.image_format)
            utils.check_image_size(dataset_dict, image)
            return image
        except (OSError, SyntaxError, ValueError) as error:  # SizeMismatchError is a ValueError
            problem = f"{file_name}: cannot use this image ({type(error).__name__}: {error})"
            if not self.is_train or self.bad_image_policy == "error":
                raise BadImageError(f"{problem}; set DATALOADER.BAD_IMAGE_POLICY skip to train without it, "
                                    "DATALOADER.IMAGE_CHECK decode to find all such files up front") from error
        logger.warning("Skipping %s", problem)
        self._skipped.append(file_name)
        return None

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
        clipped, keep = _clip_and_keep_nonempty(boxes, image_hw)
        num_dropped = int((~keep).sum())
        num_clipped = int((clipped != boxes[keep]).any(axis=1).sum())
        if (num_dropped or num_clipped) and file_name not in self._warned_files:
            self._warned_files.add(file_name)
            where = "" if self.is_train else " (evaluation scores against the annotation file's boxes as they are)"
            logger.warning("%s: dropped %d of %d boxes with zero area or outside the image, clipped %d "
                           "to the image%s", file_name, num_dropped, len(keep), num_clipped, where)
        return clipped, classes[keep]


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

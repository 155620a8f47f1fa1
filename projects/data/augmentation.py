"""The DETR augmentation list, built from the config with detectron2.data.transforms."""
from typing import List

from detectron2.config import CfgNode
from detectron2.data import transforms as T


def build_detr_augmentation(cfg: CfgNode, is_train: bool) -> List[T.Augmentation]:
    """Official DETR augmentation (datasets/coco.py ``make_coco_transforms``) as detectron2 augmentations.

    Training: flip; then with probability INPUT.DETR_CROP.PROB the crop branch
    [resize to PRE_RESIZE, RandomCrop(TYPE, SIZE)]; then resize to MIN_SIZE_TRAIN / MAX_SIZE_TRAIN.
    Both official branches end with the same resize, so "either resize or pre-resize-crop-resize"
    (RandomSelect, p=0.5) equals an optional pre-resize-crop followed by the shared resize.
    Test: resize to MIN_SIZE_TEST / MAX_SIZE_TEST.

    Needs ``add_detr_data_config(cfg)``. Note detectron2 rounds the resized long side
    (int(x + 0.5)) where the official code truncates it.
    """
    if not is_train:
        return [T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice")]
    augs: List[T.Augmentation] = []
    if cfg.INPUT.RANDOM_FLIP != "none":
        augs.append(T.RandomFlip(horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                                 vertical=cfg.INPUT.RANDOM_FLIP == "vertical"))
    crop = cfg.INPUT.DETR_CROP
    if crop.ENABLED and crop.PROB > 0:
        crop_branch = T.AugmentationList([T.ResizeShortestEdge(crop.PRE_RESIZE, sample_style="choice"),
                                          T.RandomCrop(crop.TYPE, crop.SIZE)])
        augs.append(T.RandomApply(crop_branch, prob=crop.PROB))
    augs.append(T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN,
                                     cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING))
    return augs

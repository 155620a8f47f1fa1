"""Batched inference on raw images with the evaluation's own test-time resize."""
from typing import List, Sequence

import numpy as np
import torch

from detectron2.data import transforms as T
from detectron2.modeling import build_model
from detectron2.structures import Instances

from projects.data import build_detr_augmentation
from projects.visualization.inputs import ToolInputError
from projects.visualization.weights import load_weights


class BatchPredictor:
    """Build the model of ``cfg``, load MODEL.WEIGHTS (strictly) and predict on lists of images.

    Like Detectron2's DefaultPredictor, but for a batch: images are resized exactly as the test
    mapper does (``build_detr_augmentation(cfg, is_train=False)``) and padded to the batch's largest
    size by the model, as in evaluation.
    """

    def __init__(self, cfg):
        self.cfg = cfg.clone()
        try:
            self.model = build_model(self.cfg).eval()
        except ValueError as error:  # the model builders' checks of the config
            raise ToolInputError(f"bad config for {cfg.MODEL.META_ARCHITECTURE}: {error}") from None
        load_weights(self.model, cfg)
        self.augmentations = T.AugmentationList(build_detr_augmentation(cfg, is_train=False))
        self.input_format = cfg.INPUT.FORMAT

    def model_input(self, image: np.ndarray) -> dict:
        """uint8 [H, W, C] image in INPUT.FORMAT -> the model's input dict (resized [C, H', W'] tensor)."""
        aug_input = T.AugInput(image)
        self.augmentations(aug_input)
        tensor = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        return {"image": tensor, "height": image.shape[0], "width": image.shape[1]}

    @torch.no_grad()
    def __call__(self, images: Sequence[np.ndarray]) -> List[Instances]:
        """Images (uint8 [H, W, C] in INPUT.FORMAT) -> one Instances per image on the CPU, in the
        original image frame (pred_boxes, scores, pred_classes)."""
        outputs = self.model([self.model_input(image) for image in images])
        return [output["instances"].to("cpu") for output in outputs]

"""Config keys of the DETR input pipeline (``add_detr_data_config``)."""
from detectron2.config import CfgNode as CN


def add_detr_data_config(cfg: CN) -> None:
    """Add the DETR augmentation keys under ``cfg.INPUT.DETR_CROP``; safe to call more than once.

    The standard keys keep their meaning: INPUT.FORMAT, INPUT.RANDOM_FLIP,
    INPUT.MIN_SIZE_TRAIN(_SAMPLING), INPUT.MAX_SIZE_TRAIN, INPUT.MIN_SIZE_TEST, INPUT.MAX_SIZE_TEST.
    Detectron2's own INPUT.CROP is not used by ``DetrDatasetMapper``.

    INPUT.DETR_CROP (official main.py / datasets/coco.py values):
        ENABLED: use the resize-crop-resize branch at all.
        PROB: probability of that branch instead of the plain resize (official RandomSelect, 0.5).
        PRE_RESIZE: shortest-edge choices before the crop (official [400, 500, 600]).
        TYPE, SIZE: detectron2 RandomCrop arguments (official RandomSizeCrop(384, 600): crop height
            and width drawn independently in [384, min(side, 600)], i.e. "absolute_range").

    Also sets DATALOADER.FILTER_EMPTY_ANNOTATIONS = False: official DETR trains on images without
    objects too (they teach the no-object class).
    """
    if "DETR_CROP" in cfg.INPUT:
        return
    cfg.INPUT.DETR_CROP = CN()
    cfg.INPUT.DETR_CROP.ENABLED = True
    cfg.INPUT.DETR_CROP.PROB = 0.5
    cfg.INPUT.DETR_CROP.PRE_RESIZE = (400, 500, 600)
    cfg.INPUT.DETR_CROP.TYPE = "absolute_range"
    cfg.INPUT.DETR_CROP.SIZE = (384, 600)
    cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS = False

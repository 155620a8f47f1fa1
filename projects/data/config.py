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

    Reliability keys (``add_data_reliability_config``) are added as well.
    """
    add_data_reliability_config(cfg)
    if "DETR_CROP" in cfg.INPUT:
        return
    cfg.INPUT.DETR_CROP = CN()
    cfg.INPUT.DETR_CROP.ENABLED = True
    cfg.INPUT.DETR_CROP.PROB = 0.5
    cfg.INPUT.DETR_CROP.PRE_RESIZE = (400, 500, 600)
    cfg.INPUT.DETR_CROP.TYPE = "absolute_range"
    cfg.INPUT.DETR_CROP.SIZE = (384, 600)
    cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS = False


def add_data_reliability_config(cfg: CN) -> None:
    """Add the image-check and evaluation-batch keys (idempotent).

    DATALOADER.IMAGE_CHECK: "header" (default: every image of the train and test sets must exist,
        open and have the annotated size; read from the file headers, fast), "decode" (also decode
        every image fully: catches all truncated or corrupt files, slower) or "off".
    DATALOADER.BAD_IMAGE_POLICY: "error" (default: stop before training, listing every bad file) or
        "skip" (train without them: each is logged by name and counted in the metrics as
        data/bad_images_skipped, also when an image fails to load later during training).
    TEST.IMS_PER_BATCH: images per batch (per process) of the evaluation data loader.
    """
    if "IMAGE_CHECK" not in cfg.DATALOADER:
        cfg.DATALOADER.IMAGE_CHECK = "header"
    if "BAD_IMAGE_POLICY" not in cfg.DATALOADER:
        cfg.DATALOADER.BAD_IMAGE_POLICY = "error"
    if "IMS_PER_BATCH" not in cfg.TEST:
        cfg.TEST.IMS_PER_BATCH = 1

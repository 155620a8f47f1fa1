"""Config keys shared by every DETR-family model (``MODEL.DETR``) and by the trainer."""
from detectron2.config import CfgNode as CN

from .criterion import CLASS_LOSS_TYPES
from .data import add_detr_data_config


def add_detr_config(cfg):
    """Add the shared DETR-family keys to a Detectron2 config (idempotent)."""
    if "DETR" in cfg.MODEL:
        return
    cfg.MODEL.DETR = CN()
    detr = cfg.MODEL.DETR
    detr.NUM_CLASSES = 80
    detr.IN_FEATURES = ["res5"]
    # transformer
    detr.HIDDEN_DIM = 256
    detr.NHEADS = 8
    detr.ENC_LAYERS = 6
    detr.DEC_LAYERS = 6
    detr.DIM_FEEDFORWARD = 2048
    detr.DROPOUT = 0.1
    detr.PRE_NORM = False
    detr.NUM_OBJECT_QUERIES = 100
    detr.POSITION_EMBEDDING = "sine"  # or "learned"
    detr.DEEP_SUPERVISION = True  # aux losses on every decoder layer
    # loss: "softmax" (CE with a no-object class, DETR) or "focal" (sigmoid focal, the fast-converging family)
    detr.CLASS_LOSS = "softmax"
    detr.NO_OBJECT_WEIGHT = 0.1
    detr.FOCAL_ALPHA = 0.25
    detr.FOCAL_GAMMA = 2.0
    detr.CLASS_WEIGHT = 1.0
    detr.L1_WEIGHT = 5.0
    detr.GIOU_WEIGHT = 2.0
    # Hungarian matcher costs
    detr.COST_CLASS = 1.0
    detr.COST_BBOX = 5.0
    detr.COST_GIOU = 2.0
    # inference: detections per image for the top-k sigmoid selection (focal-loss models)
    detr.NUM_TOPK_TEST = 100
    # inference runs each image at its own size (same-size images batched together), so detections
    # do not depend on the test batch's composition; False: one padded batch, as the official code.
    # Training always pads, as the papers do.
    detr.INFERENCE_UNPADDED = True
    # how a detector checkpoint in MODEL.WEIGHTS must fit the model: "strict" (every entry, same
    # shapes), "finetune" (class heads of another class count re-initialised) or "partial"
    # (Detectron2's load-what-matches); see projects/weights_check.py
    cfg.MODEL.WEIGHTS_MODE = "strict"
    # torch.compile the model's tensor core (DETRBase.predict, one graph) in train_net.py; see
    # projects/deploy/compile.py
    cfg.MODEL.COMPILE = False

    cfg.SOLVER.OPTIMIZER = "ADAMW"
    cfg.SOLVER.BACKBONE_MULTIPLIER = 0.1
    # parameter-name substrings whose LR is multiplied by SOLVER.LINEAR_PROJ_MULTIPLIER
    # (Deformable DETR: sampling offsets and reference points get 0.1x)
    cfg.SOLVER.LINEAR_PROJ_NAMES = []
    cfg.SOLVER.LINEAR_PROJ_MULTIPLIER = 0.1
    # mixed precision (SOLVER.AMP.ENABLED): "float16" (CUDA, loss-scaled), "bfloat16" (CUDA or CPU)
    # or "auto" (float16 on CUDA, bfloat16 on CPU); see projects/amp.py
    cfg.SOLVER.AMP.DTYPE = "auto"
    # exponential moving average of the weights, updated after every step (projects/ema.py)
    cfg.MODEL_EMA = CN()
    cfg.MODEL_EMA.ENABLED = False
    cfg.MODEL_EMA.DECAY = 0.9998
    cfg.MODEL_EMA.USE_FOR_EVAL = True  # evaluate the averaged weights (training's EvalHook, --eval-only)
    add_detr_data_config(cfg)


def class_loss_from_config(cfg):
    """MODEL.DETR.CLASS_LOSS, checked: "softmax" (CE with a no-object class) or "focal" (sigmoid focal)."""
    found = cfg.MODEL.DETR.CLASS_LOSS
    if found not in CLASS_LOSS_TYPES:
        raise ValueError(f"MODEL.DETR.CLASS_LOSS must be one of {CLASS_LOSS_TYPES}, got {found!r}")
    return found


def check_method_config(cfg, method, class_loss=None, pre_norm=True):
    """A ValueError naming the key when ``cfg`` asks ``method`` for what it cannot do.

    class_loss: the loss the method is trained with ("softmax" or "focal"); None accepts either.
    pre_norm: False for methods whose layers are post-norm only (MODEL.DETR.PRE_NORM must be False).
    """
    found = class_loss_from_config(cfg)
    if class_loss is not None and found != class_loss:
        raise ValueError(f"{method} is trained with the {class_loss!r} class loss: set MODEL.DETR.CLASS_LOSS "
                         f"{class_loss!r}, got {found!r}")
    if not pre_norm and cfg.MODEL.DETR.PRE_NORM:
        raise ValueError(f"{method} has post-norm layers only (as the official code): set MODEL.DETR.PRE_NORM False")

"""The config of every DETR-family model: the shared keys (``MODEL.DETR``, the trainer's) and the one
entrance that builds a config for train_net.py, the tools and the tests (``load_config``)."""
from projects.utils.quiet_imports import import_detectron2_quietly

import_detectron2_quietly()  # first: Detectron2's import-time torch.jit.script warnings are not shown

from detectron2.config import CfgNode as CN  # noqa: E402 (after the quiet import)
from detectron2.config import get_cfg
from detectron2.modeling import META_ARCH_REGISTRY

from projects.data import add_detr_data_config
from projects.modeling.efficientnet.trunk import add_efficientnet_config
from projects.registry import method_of_architecture, registered_methods


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
    # (Detectron2's load-what-matches); see projects/checkpoint/weights_fit.py
    cfg.MODEL.WEIGHTS_MODE = "strict"
    # torch.compile the model's tensor core (DETRBase.predict, one graph) for training and --eval-only;
    # see projects/engine/compile.py
    cfg.MODEL.COMPILE = False

    cfg.SOLVER.OPTIMIZER = "ADAMW"
    cfg.SOLVER.BACKBONE_MULTIPLIER = 0.1
    # parameter-name substrings whose LR is multiplied by SOLVER.LINEAR_PROJ_MULTIPLIER
    # (Deformable DETR: sampling offsets and reference points get 0.1x)
    cfg.SOLVER.LINEAR_PROJ_NAMES = []
    cfg.SOLVER.LINEAR_PROJ_MULTIPLIER = 0.1
    # mixed precision (SOLVER.AMP.ENABLED): "float16" (CUDA, loss-scaled), "bfloat16" (CUDA or CPU)
    # or "auto" (float16 on CUDA, bfloat16 on CPU); see projects/engine/amp.py
    cfg.SOLVER.AMP.DTYPE = "auto"
    # exponential moving average of the weights, updated after every step (projects/engine/ema.py)
    cfg.MODEL_EMA = CN()
    cfg.MODEL_EMA.ENABLED = False
    cfg.MODEL_EMA.DECAY = 0.9998
    cfg.MODEL_EMA.USE_FOR_EVAL = True  # evaluate the averaged weights (training's EvalHook, --eval-only)
    # stop a diverging run (projects/engine/divergence.py): the total loss above FACTOR x its running median
    # (median of the last WINDOW losses once WARMUP are known, at its lowest so far) is logged; PATIENCE such
    # iterations in a row stop training with one line. ENABLED False turns the check off.
    cfg.SOLVER.DIVERGENCE = CN()
    cfg.SOLVER.DIVERGENCE.ENABLED = True
    cfg.SOLVER.DIVERGENCE.FACTOR = 10.0
    cfg.SOLVER.DIVERGENCE.WINDOW = 20
    cfg.SOLVER.DIVERGENCE.WARMUP = 10
    cfg.SOLVER.DIVERGENCE.PATIENCE = 20
    add_detr_data_config(cfg)
    add_efficientnet_config(cfg)  # MODEL.EFFICIENTNET: the ImageNet EfficientNet-Lite trunk


def default_config():
    """Detectron2's defaults + the shared keys + the keys of every registered method."""
    cfg = get_cfg()
    add_detr_config(cfg)
    for method in registered_methods().values():
        method.add_config(cfg)
    return cfg


def check_meta_architecture(name: str) -> None:
    """UnregisteredMethodError (naming what to import) unless ``name`` is in META_ARCH_REGISTRY."""
    if name not in META_ARCH_REGISTRY:
        method_of_architecture(name)  # raises, listing the registered methods


def _architecture_in_file(config_file: str) -> str:
    """MODEL.META_ARCHITECTURE as the file (and its _BASE_ chain) sets it, read without the defaults."""
    data = CN.load_yaml_with_base(config_file, allow_unsafe=False)
    return str((data.get("MODEL") or {}).get("META_ARCHITECTURE", ""))


def load_config(config_file: str, opts=(), freeze: bool = True):
    """The config of ``config_file`` + ``opts`` (a flat [key, value, ...] list), for any registered method.

    A file for a meta-architecture no installed package registers fails with an
    UnregisteredMethodError naming the fix, not with yacs' "Non-existent config key" for its keys.
    """
    cfg = default_config()
    try:
        cfg.merge_from_file(config_file)
    except KeyError:
        check_meta_architecture(_architecture_in_file(config_file) or cfg.MODEL.META_ARCHITECTURE)
        raise
    cfg.merge_from_list(list(opts))
    check_meta_architecture(cfg.MODEL.META_ARCHITECTURE)
    if freeze:
        cfg.freeze()
    return cfg

"""Helpers for end-to-end tests: a tiny quickstart config on the embedded dataset."""
from detectron2.config import get_cfg

from projects import add_detr_config
from projects.data import register_embedded_dataset

TINY_OVERRIDES = [
    "MODEL.DETR.HIDDEN_DIM", 32, "MODEL.DETR.DIM_FEEDFORWARD", 64, "MODEL.DETR.ENC_LAYERS", 1,
    "MODEL.DETR.DEC_LAYERS", 2, "SOLVER.IMS_PER_BATCH", 2, "SOLVER.MAX_ITER", 3, "SOLVER.STEPS", (),
    "SOLVER.CHECKPOINT_PERIOD", 1000, "INPUT.MIN_SIZE_TRAIN", (160,), "INPUT.MAX_SIZE_TRAIN", 224,
    "INPUT.MIN_SIZE_TEST", 160, "INPUT.MAX_SIZE_TEST", 224, "DATALOADER.NUM_WORKERS", 0,
]


def tiny_cfg(config_file, output_dir, add_configs=(add_detr_config,), extra=()):
    """The quickstart ``config_file`` shrunk to a few-second CPU job writing to ``output_dir``."""
    register_embedded_dataset()
    cfg = get_cfg()
    for add_config in add_configs:
        add_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(TINY_OVERRIDES))
    cfg.merge_from_list(list(extra))
    cfg.OUTPUT_DIR = str(output_dir)
    return cfg

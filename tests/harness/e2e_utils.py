"""The one tiny-config builder of the end-to-end tests: a config file shrunk to a few-second CPU job."""
from pathlib import Path

from projects.config import load_config

ROOT = Path(__file__).resolve().parents[2]
TINY_OVERRIDES = [
    "MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu",
    "MODEL.DETR.HIDDEN_DIM", 32, "MODEL.DETR.NHEADS", 4, "MODEL.DETR.DIM_FEEDFORWARD", 64,
    "MODEL.DETR.ENC_LAYERS", 1, "MODEL.DETR.DEC_LAYERS", 2,
    "MODEL.DETR.NUM_OBJECT_QUERIES", 10, "MODEL.DETR.NUM_TOPK_TEST", 20,
    "INPUT.MIN_SIZE_TRAIN", (128,), "INPUT.MAX_SIZE_TRAIN", 160, "INPUT.MIN_SIZE_TEST", 128, "INPUT.MAX_SIZE_TEST", 160,
    "SOLVER.IMS_PER_BATCH", 2, "SOLVER.MAX_ITER", 3, "SOLVER.STEPS", (), "SOLVER.CHECKPOINT_PERIOD", 1000,
    "DATALOADER.NUM_WORKERS", 0,
]


def tiny_cfg(config_file, output_dir=None, extra=()):
    """The (unfrozen) config of ``config_file`` (absolute, or relative to the repository) for any
    registered method (``projects.config.load_config``), with TINY_OVERRIDES then ``extra``; it
    writes to ``output_dir`` when given. The embedded dataset names it trains on are registered for
    the whole test session (tests/conftest.py)."""
    cfg = load_config(str(ROOT / config_file), list(TINY_OVERRIDES) + list(extra), freeze=False)
    if output_dir is not None:
        cfg.OUTPUT_DIR = str(output_dir)
    return cfg

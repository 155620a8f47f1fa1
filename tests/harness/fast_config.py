"""The tiny DETR quickstart config with small images and no evaluation: a few seconds per training run."""
from pathlib import Path

from tests.harness.e2e_utils import tiny_cfg

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "configs/quickstart/detr_embedded.yaml")

# On top of tests.harness.e2e_utils.TINY_OVERRIDES: small images and no evaluation, for a few seconds per run.
FAST_OVERRIDES = [
    "INPUT.MIN_SIZE_TRAIN", (64,), "INPUT.MAX_SIZE_TRAIN", 96, "INPUT.MIN_SIZE_TEST", 64,
    "INPUT.MAX_SIZE_TEST", 96, "DATASETS.TEST", (), "TEST.EVAL_PERIOD", 0,
]


def fast_cfg(output_dir, extra=()):
    """The tiny DETR quickstart config with FAST_OVERRIDES and ``extra``."""
    return tiny_cfg(QUICKSTART, output_dir, extra=FAST_OVERRIDES + list(extra))

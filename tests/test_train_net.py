"""The Trainer end to end on the (small) embedded dataset: train a few iterations, evaluate with
COCOEvaluator, then run the ``train_net.py --eval-only`` command on the checkpoint just written.

Model-level end-to-end checks of every method are in its tests' test_model_e2e.py
(tests/<method>/, tests/projects/detr/); this file checks the glue
around one model (DETR): the trainer, its hooks, the evaluator and the command line.
"""
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from projects.engine.trainer import Trainer
from tests.harness.dataset_utils import SMALL_NUM_TRAIN, SMALL_NUM_VAL
from tests.harness.e2e_utils import ROOT, tiny_cfg

QUICKSTART = "configs/quickstart/detr_embedded.yaml"
# train_net.py as a user runs it, after registering the small dataset copy under the usual names
# (train_net registers the embedded dataset only when the names are free).
RUN_TRAIN_NET = ("import runpy, sys; from projects.data import register_embedded_dataset; "
                 f"register_embedded_dataset(sys.argv.pop(1), num_train={SMALL_NUM_TRAIN}, num_val={SMALL_NUM_VAL}); "
                 "sys.argv[0] = 'train_net.py'; runpy.run_path('train_net.py', run_name='__main__')")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train 3 iterations on the small embedded dataset, evaluate at the end; returns (cfg, trainer)."""
    cfg = tiny_cfg(QUICKSTART, tmp_path_factory.mktemp("detr_e2e"))
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return cfg, trainer


def test_training_logs_finite_losses(trained):
    _, trainer = trained
    history = trainer.storage.history("total_loss").values()
    assert len(history) == 3
    assert all(math.isfinite(v) for v, _ in history)
    assert "class_error" in trainer.storage.histories()  # log-only metrics reach the event storage


def test_training_curves_png_is_written(trained):
    cfg, _ = trained
    png = Path(cfg.OUTPUT_DIR) / "training_curves.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluation_reports_coco_metrics(trained):
    _, trainer = trained
    results = trainer._last_eval_results["bbox"]
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl"} <= set(results)
    # (an object-size range without ground truth in the 4 val images reports NaN, as COCO's -1)
    assert all(math.isfinite(results[name]) and 0 <= results[name] <= 100 for name in ("AP", "AP50", "AP75"))


def test_eval_only_cli_on_the_checkpoint_just_written(trained, small_embedded_root):
    cfg, _ = trained
    checkpoint = Path(cfg.OUTPUT_DIR) / "model_final.pth"
    assert checkpoint.is_file()
    command = [sys.executable, "-c", RUN_TRAIN_NET, str(small_embedded_root), "--config-file", QUICKSTART,
               "--eval-only", "MODEL.WEIGHTS", str(checkpoint), "OUTPUT_DIR", str(Path(cfg.OUTPUT_DIR) / "eval"),
               *map(str, model_shape_overrides(cfg))]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in done.stdout + done.stderr


def model_shape_overrides(cfg):
    """The model-shape overrides of the tiny config, so the command line builds the same model."""
    detr = cfg.MODEL.DETR
    return ["MODEL.DETR.HIDDEN_DIM", detr.HIDDEN_DIM, "MODEL.DETR.NHEADS", detr.NHEADS,
            "MODEL.DETR.DIM_FEEDFORWARD", detr.DIM_FEEDFORWARD, "MODEL.DETR.ENC_LAYERS", detr.ENC_LAYERS,
            "MODEL.DETR.DEC_LAYERS", detr.DEC_LAYERS, "MODEL.DETR.NUM_OBJECT_QUERIES", detr.NUM_OBJECT_QUERIES,
            "INPUT.MIN_SIZE_TEST", cfg.INPUT.MIN_SIZE_TEST, "INPUT.MAX_SIZE_TEST", cfg.INPUT.MAX_SIZE_TEST]

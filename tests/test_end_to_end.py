"""End to end on the embedded dataset: train a few iterations with the Trainer, evaluate with
COCOEvaluator, then run ``train_net.py --eval-only`` on the checkpoint just written."""
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from projects import add_detr_config
from projects.engine import Trainer
from tests.e2e_utils import tiny_cfg

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "configs/quickstart/detr_embedded.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train 3 iterations, evaluate at the end; returns (cfg, trainer)."""
    output_dir = tmp_path_factory.mktemp("detr_e2e")
    cfg = tiny_cfg(QUICKSTART, output_dir)
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
    assert set(["AP", "AP50", "AP75", "APs", "APm", "APl"]) <= set(results)
    assert all(math.isfinite(v) for v in results.values())


def test_eval_only_cli_on_the_checkpoint_just_written(trained):
    cfg, _ = trained
    checkpoint = Path(cfg.OUTPUT_DIR) / "model_final.pth"
    assert checkpoint.is_file()
    overrides = [str(x) for x in cfg_overrides(cfg)]
    command = [sys.executable, str(ROOT / "train_net.py"), "--config-file", QUICKSTART, "--eval-only",
               "MODEL.WEIGHTS", str(checkpoint), "OUTPUT_DIR", str(Path(cfg.OUTPUT_DIR) / "eval"), *overrides]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in done.stdout + done.stderr


def cfg_overrides(cfg):
    """The model-shape overrides of the tiny config, so the CLI builds the same model."""
    detr = cfg.MODEL.DETR
    return ["MODEL.DETR.HIDDEN_DIM", detr.HIDDEN_DIM, "MODEL.DETR.DIM_FEEDFORWARD", detr.DIM_FEEDFORWARD,
            "MODEL.DETR.ENC_LAYERS", detr.ENC_LAYERS, "MODEL.DETR.DEC_LAYERS", detr.DEC_LAYERS,
            "INPUT.MIN_SIZE_TEST", cfg.INPUT.MIN_SIZE_TEST, "INPUT.MAX_SIZE_TEST", cfg.INPUT.MAX_SIZE_TEST]


def test_detectron2_pipeline_without_train_net(trained):
    """The README snippet: get_cfg + add_detr_config + merge_from_file + build_model + DetectionCheckpointer."""
    cfg, trainer = trained
    user_cfg = get_cfg()
    add_detr_config(user_cfg)
    user_cfg.merge_from_file(QUICKSTART)
    user_cfg.merge_from_list(cfg_overrides(cfg))
    model = build_model(user_cfg)
    DetectionCheckpointer(model).load(str(Path(cfg.OUTPUT_DIR) / "model_final.pth"))
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    model.eval()
    with torch.no_grad():
        outputs = model([{"image": torch.randint(0, 255, (3, 150, 170), dtype=torch.uint8), "height": 300, "width": 340}])
    instances = outputs[0]["instances"]
    assert instances.image_size == (300, 340)
    assert {"pred_boxes", "scores", "pred_classes"} <= set(instances.get_fields())
    assert len(instances) > 0

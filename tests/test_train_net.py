"""The Trainer end to end on the (small) embedded dataset: train a few iterations, evaluate with
COCOEvaluator, then run the ``train_net.py --eval-only`` command on the checkpoint just written.

Model-level end-to-end checks of every method are in its tests' test_model_e2e.py
(tests/<method>/, tests/projects/detr/); this file checks the glue
around one model (DETR): the trainer, its hooks, the evaluator and the command line.
"""
import math
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from projects.engine.run_summary import log_run_summary
from projects.engine.trainer import Trainer
from projects.utils.quiet_imports import import_detectron2_quietly
from tests.harness.dataset_utils import SMALL_NUM_TRAIN, SMALL_NUM_VAL
from tests.harness.e2e_utils import ROOT, tiny_cfg
from tests.tools.tool_utils import load_tool

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


@pytest.fixture(scope="module")
def eval_only_run(trained, small_embedded_root):
    """``train_net.py --eval-only`` on the checkpoint just written: (cfg, its CompletedProcess)."""
    cfg, _ = trained
    checkpoint = Path(cfg.OUTPUT_DIR) / "model_final.pth"
    assert checkpoint.is_file()
    command = [sys.executable, "-c", RUN_TRAIN_NET, str(small_embedded_root), "--config-file", QUICKSTART,
               "--eval-only", "MODEL.WEIGHTS", str(checkpoint), "OUTPUT_DIR", str(Path(cfg.OUTPUT_DIR) / "eval"),
               *map(str, model_shape_overrides(cfg))]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return cfg, done


def test_eval_only_cli_on_the_checkpoint_just_written(eval_only_run):
    _, done = eval_only_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in done.stdout + done.stderr


def test_start_prints_no_known_deprecation_warning(eval_only_run):
    """Detectron2's and fvcore's import-time torch.jit.script calls warned twice per start (issue 24, item 2)."""
    _, done = eval_only_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "torch.jit.script" not in done.stdout + done.stderr
    assert "Warning" not in done.stderr


def summary_of(output: str):
    """The lines of the run summary at the end of ``output``."""
    lines = output.splitlines()
    start = max(i for i, line in enumerate(lines) if line.endswith("Run summary"))
    return lines[start + 1:]


def test_last_lines_name_the_outputs_the_recall_and_the_next_commands(eval_only_run, monkeypatch, tmp_path):
    """Issue 24, item 3: what was written, the recall at the adopted threshold, and commands that work."""
    cfg, done = eval_only_run
    assert done.returncode == 0, done.stderr[-3000:]
    summary = summary_of(done.stdout)
    detections = Path(cfg.OUTPUT_DIR) / "eval" / "inference" / "embedded_shapes_val" / "coco_instances_results.json"
    assert f"  model       {Path(cfg.OUTPUT_DIR) / 'model_final.pth'}" in summary
    assert f"  detections  {detections}" in summary
    recall = re.fullmatch(r"Recall at score >= 0\.5 on embedded_shapes_val \(IoU 0\.5\): (\d+) of (\d+) objects "
                          r"\(.*\), precision .* \((\d+) detections kept\)", summary[-5])
    rows, _ = load_tool("score_recall").main(["--input", str(detections), "--dataset", "embedded_shapes_val",
                                              "--thresholds", "0.5"])
    assert recall and tuple(map(int, recall.groups())) == (rows[0]["found"], rows[0]["objects"], rows[0]["detections"])
    demo, score_recall = shlex.split(summary[-3]), shlex.split(summary[-1])
    assert demo[:2] == ["python", "tools/demo.py"] and score_recall[:2] == ["python", "tools/score_recall.py"]
    assert demo[demo.index("--confidence-threshold") + 1] == "0.5"
    assert score_recall[2:] == ["--input", str(detections), "--dataset", "embedded_shapes_val"]
    monkeypatch.chdir(ROOT)  # the commands are written for the directory train_net.py ran in
    demo[demo.index("--output") + 1] = str(tmp_path / "demo")
    drawn = load_tool("demo").main(demo[2:])
    assert len(drawn) == 2 and all(Path(path).is_file() for path in drawn)


def test_training_run_lists_its_outputs(trained):
    cfg, _ = trained
    lines = log_run_summary(cfg, QUICKSTART, [], str(Path(cfg.OUTPUT_DIR) / "model_final.pth"), since=0.0)
    listed = {line.split()[0]: line.split()[1] for line in lines[1:] if line.startswith("  ") and len(line.split()) == 2}
    assert listed == {"model": str(Path(cfg.OUTPUT_DIR) / "model_final.pth"),
                      "metrics": str(Path(cfg.OUTPUT_DIR) / "metrics.json"),
                      "curves": str(Path(cfg.OUTPUT_DIR) / "training_curves.png"),
                      "detections": str(Path(cfg.OUTPUT_DIR) / "inference" / "embedded_shapes_val" /
                                        "coco_instances_results.json")}
    assert any(line.startswith("  python tools/demo.py --config-file configs/quickstart/detr_embedded.yaml")
               for line in lines)


def model_shape_overrides(cfg):
    """The model-shape overrides of the tiny config, so the command line builds the same model."""
    detr = cfg.MODEL.DETR
    return ["MODEL.DETR.HIDDEN_DIM", detr.HIDDEN_DIM, "MODEL.DETR.NHEADS", detr.NHEADS,
            "MODEL.DETR.DIM_FEEDFORWARD", detr.DIM_FEEDFORWARD, "MODEL.DETR.ENC_LAYERS", detr.ENC_LAYERS,
            "MODEL.DETR.DEC_LAYERS", detr.DEC_LAYERS, "MODEL.DETR.NUM_OBJECT_QUERIES", detr.NUM_OBJECT_QUERIES,
            "INPUT.MIN_SIZE_TEST", cfg.INPUT.MIN_SIZE_TEST, "INPUT.MAX_SIZE_TEST", cfg.INPUT.MAX_SIZE_TEST]


def test_quiet_import_leaves_no_warning_filter_behind():
    """The known warning is ignored during Detectron2's import only: nothing broader stays installed."""
    before = list(warnings.filters)
    import_detectron2_quietly()
    assert warnings.filters == before

"""DINO's configs: every file merges with the official schedule, and config mistakes fail before training
with one line (denoising budget and settings, 5-scale weights in a 4-scale model, another class loss)."""
import re
from pathlib import Path

import pytest
import torch

from detectron2.modeling import build_model

from projects.checkpoint import WeightsMismatchError, check_weights_fit
from projects.config import load_config
from projects.modeling.denoising import DenoisingConfigError
from tests.harness.e2e_utils import tiny_cfg

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE_CONFIGS = sorted((ROOT / "configs" / "dino").glob("dino_*scale_r50_*ep.yaml"))
QUICKSTART = "configs/quickstart/dino_embedded.yaml"
EMBEDDED = sorted((ROOT / "configs" / "embedded_pretrained").glob("dino*.yaml"))
ITERATIONS_PER_EPOCH = 7_393  # ceil(118,287 COCO train images / 8 workers) batches of 2 (5-scale: 16 x 1)
LR_DROP_EPOCH = {12: 11, 24: 20, 36: 30}


def test_every_schedule_exists():
    names = {path.name for path in SCHEDULE_CONFIGS}
    assert names == {f"dino_{levels}scale_r50_{epochs}ep.yaml" for levels in (4, 5) for epochs in LR_DROP_EPOCH}


@pytest.mark.parametrize("path", SCHEDULE_CONFIGS, ids=lambda p: p.name)
def test_schedule_and_official_values(path):
    cfg = load_config(str(path))
    levels, epochs = map(int, re.match(r"dino_(\d)scale_r50_(\d+)ep", path.stem).groups())
    solver, detr, dino = cfg.SOLVER, cfg.MODEL.DETR, cfg.MODEL.DINO
    assert solver.MAX_ITER == epochs * ITERATIONS_PER_EPOCH
    assert solver.STEPS == (LR_DROP_EPOCH[epochs] * ITERATIONS_PER_EPOCH,)
    assert (solver.IMS_PER_BATCH, solver.BASE_LR, solver.BACKBONE_MULTIPLIER) == (16, 1e-4, 0.1)
    assert solver.WEIGHT_DECAY == 1e-4
    assert list(solver.LINEAR_PROJ_NAMES) == []  # official param_dict_type "default"
    assert (solver.CLIP_GRADIENTS.ENABLED, solver.CLIP_GRADIENTS.CLIP_VALUE) == (True, 0.1)
    assert dino.NUM_FEATURE_LEVELS == levels == len(detr.IN_FEATURES) + 1
    assert (detr.NUM_OBJECT_QUERIES, detr.DIM_FEEDFORWARD, detr.DROPOUT, detr.NUM_TOPK_TEST) == (900, 2048, 0.0, 300)
    assert (detr.CLASS_WEIGHT, detr.L1_WEIGHT, detr.GIOU_WEIGHT) == (1.0, 5.0, 2.0)
    assert (detr.COST_CLASS, detr.COST_BBOX, detr.COST_GIOU) == (2.0, 5.0, 2.0)
    assert (dino.DN_NUMBER, dino.DN_LABEL_NOISE_RATIO, dino.DN_BOX_NOISE_SCALE) == (100, 0.5, 1.0)


@pytest.mark.parametrize("path", EMBEDDED, ids=lambda p: p.name)
def test_embedded_configs_build(path):
    cfg = load_config(str(path), ["MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu"])
    assert cfg.MODEL.META_ARCHITECTURE == "DINO"
    assert type(build_model(cfg)).__name__ == "DINO"


def test_main_job_candidate_has_the_main_job_budget():
    ours = load_config("configs/embedded_pretrained/dino_main_job.yaml")
    main = load_config("configs/embedded_pretrained/main_job.yaml")
    for key in ("MAX_ITER", "STEPS", "IMS_PER_BATCH", "CHECKPOINT_PERIOD"):
        assert ours.SOLVER[key] == main.SOLVER[key], key
    for key in ("MIN_SIZE_TRAIN", "MAX_SIZE_TRAIN"):
        assert ours.INPUT[key] == main.INPUT[key], key
    assert ours.MODEL.DETR.DEC_LAYERS == main.MODEL.DETR.DEC_LAYERS


@pytest.mark.parametrize("opts,message", [
    (["MODEL.DINO.DN_NUMBER", -1], r"MODEL\.DINO\.DN_NUMBER must be >= 0"),
    (["MODEL.DINO.DN_MAX_QUERIES", 50], r"MODEL\.DINO\.DN_NUMBER 50 needs at least 100 denoising queries per batch, "
                                        r"more than MODEL\.DINO\.DN_MAX_QUERIES 50"),
    (["MODEL.DINO.DN_NUMBER", 10, "MODEL.DINO.DN_MAX_QUERIES", 30], r"needs at least 40 denoising queries"),
    (["MODEL.DINO.DN_LABEL_NOISE_RATIO", 1.5], r"MODEL\.DINO\.LABEL_NOISE_RATIO must be in \[0, 1\]"),
    (["MODEL.DINO.DN_LABELBOOK_SIZE", 2],
     r"MODEL\.DINO\.DN_LABELBOOK_SIZE \(2\) must be at least MODEL\.DETR\.NUM_CLASSES"),
])
def test_denoising_mistakes_fail_when_the_model_is_built(opts, message):
    with pytest.raises(DenoisingConfigError, match=message) as raised:
        build_model(tiny_cfg(QUICKSTART, extra=opts))
    assert "\n" not in str(raised.value)


def test_a_batch_beyond_the_denoising_budget_is_one_line():
    """Below the official budget threshold (2 x DN_NUMBER < 100) the group count is fixed, so the rows grow with
    the batch's largest target count: 2 x 4 groups x 3 boxes = 24 > 20."""
    cfg = tiny_cfg(QUICKSTART, extra=["MODEL.DINO.DN_NUMBER", 2, "MODEL.DINO.DN_MAX_QUERIES", 20])
    model = build_model(cfg).train()
    targets = [{"labels": torch.zeros(3, dtype=torch.int64), "boxes": torch.full((3, 4), 0.5)}]
    with pytest.raises(DenoisingConfigError, match=r"needs 24 queries \(4 groups for an image with 3 boxes\), more "
                                                   r"than the budget of 20") as raised:
        model.denoising_queries(targets)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("opts,message", [
    (["MODEL.DETR.CLASS_LOSS", "softmax"], "DINO"),
    (["MODEL.DETR.PRE_NORM", True], r"DINO has post-norm layers only"),
    (["MODEL.DINO.ATTENTION_IMPL", "cuda"], r"MODEL\.DINO\.ATTENTION_IMPL must be one of"),
    (["MODEL.DINO.NUM_FEATURE_LEVELS", 2], r"NUM_FEATURE_LEVELS \(2\) is smaller than the number of backbone levels"),
])
def test_model_mistakes_fail_when_the_model_is_built(opts, message):
    with pytest.raises(ValueError, match=message):
        build_model(tiny_cfg(QUICKSTART, extra=opts))


def test_five_scale_weights_into_a_four_scale_model_is_named():
    four = build_model(tiny_cfg(QUICKSTART))
    five = build_model(tiny_cfg(QUICKSTART, extra=["MODEL.RESNETS.OUT_FEATURES", ["res2", "res3", "res4", "res5"],
                                                   "MODEL.DETR.IN_FEATURES", ["res2", "res3", "res4", "res5"],
                                                   "MODEL.DINO.NUM_FEATURE_LEVELS", 5]))
    # the level-sized tensors: input projections, level embedding, every sampling offset and attention weight
    with pytest.raises(WeightsMismatchError, match=r"\(method found: DINO\) does not fit the DINO model: .*"
                                                   r"input_proj.*sampling_offsets") as raised:
        check_weights_fit(four.state_dict(), five.state_dict(), model_method="DINO")
    assert "\n" not in str(raised.value)

"""Trainer glue: up-front config/dataset checks, optimizer groups and clipping, interruption, and
the construction through DefaultTrainer's own ``__init__``."""
import warnings

import pytest
import torch
from torch import nn

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.engine import defaults as d2_defaults
from detectron2.engine import hooks

from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.engine.amp import DetrAMPTrainer
from projects.engine.ema import EMAHook
from projects.engine.trainer import Trainer, check_config_against_datasets, cpu_capable_ddp
from projects.utils.errors import DataError
from projects.engine.solver import build_detr_optimizer, detr_param_groups
from tests.harness.e2e_utils import tiny_cfg

QUICKSTART = "configs/quickstart/detr_embedded.yaml"


def quickstart_cfg(output_dir, overrides=()):
    return tiny_cfg(QUICKSTART, output_dir, extra=overrides)


def test_num_classes_mismatch_is_reported_before_training(tmp_path):
    cfg = quickstart_cfg(tmp_path, ["MODEL.DETR.NUM_CLASSES", 80])
    with pytest.raises(ValueError, match=r"NUM_CLASSES is 80 but dataset 'embedded_shapes_train' has 4"):
        Trainer(cfg)


def test_missing_dataset_path_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "instances.json"
    register_coco_instances("missing_json_for_test", {}, str(missing), str(tmp_path))
    try:
        cfg = quickstart_cfg(tmp_path, ["DATASETS.TRAIN", ("missing_json_for_test",)])
        with pytest.raises(DataError, match=str(missing)):  # one of the project's one-line errors
            check_config_against_datasets(cfg)
    finally:
        DatasetCatalog.remove("missing_json_for_test")
        MetadataCatalog.remove("missing_json_for_test")


class TinyDetector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
        self.transformer = nn.Linear(4, 4)
        self.sampling_offsets = nn.Linear(4, 2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def test_param_groups_follow_the_official_recipe():
    model = TinyDetector()
    groups = {g["name"]: g for g in detr_param_groups(model, 1e-4, 1e-4, 0.1, ["sampling_offsets"], 0.1)}
    # python floats: 1e-4 * 0.1 is 1e-5 up to one rounding
    assert groups["backbone"]["lr"] == pytest.approx(1e-5, rel=1e-12)
    assert groups["linear_proj"]["lr"] == pytest.approx(1e-5, rel=1e-12)
    assert groups["default"]["lr"] == pytest.approx(1e-4, rel=1e-12)
    # official: weight decay on every parameter, norms included; frozen parameters left out
    assert all(g["weight_decay"] == 1e-4 for g in groups.values())  # the argument passed through, not computed
    grouped = {id(p) for g in groups.values() for p in g["params"]}
    assert id(model.backbone[1].weight) in grouped
    assert id(model.frozen.weight) not in grouped
    assert len(grouped) == sum(1 for p in model.parameters() if p.requires_grad)


def test_full_model_clipping_bounds_the_total_gradient_norm(tmp_path):
    cfg = quickstart_cfg(tmp_path, ["SOLVER.CLIP_GRADIENTS.CLIP_VALUE", 0.1, "SOLVER.BASE_LR", 0.0])
    model = TinyDetector()
    optimizer = build_detr_optimizer(cfg, model)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.full_like(p, 10.0)
    optimizer.step()
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
    assert total.item() == pytest.approx(0.1, rel=1e-4)  # float32 norms of a few values: rounding only


def test_bad_clip_type_is_rejected(tmp_path):
    cfg = quickstart_cfg(tmp_path, ["SOLVER.CLIP_GRADIENTS.CLIP_TYPE", "value"])
    with pytest.raises(ValueError, match="full_model"):
        build_detr_optimizer(cfg, TinyDetector())


def test_interrupted_training_leaves_a_resumable_checkpoint(tmp_path, monkeypatch):
    cfg = quickstart_cfg(tmp_path, ["SOLVER.MAX_ITER", 5])
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    original_step = trainer._trainer.run_step
    calls = {"n": 0}

    def step_then_interrupt():
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        original_step()

    monkeypatch.setattr(trainer._trainer, "run_step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert (tmp_path / "model_interrupted.pth").is_file()
    assert (tmp_path / "last_checkpoint").read_text().strip() == "model_interrupted.pth"
    resumed = Trainer(cfg)
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 2  # iterations 0 and 1 completed; 2 is redone


def test_detectron2_construction_with_the_detr_parts(tmp_path):
    create_ddp_model = d2_defaults.create_ddp_model
    cfg = quickstart_cfg(tmp_path, ["SEED", -1, "MODEL_EMA.ENABLED", True, "SOLVER.AMP.ENABLED", True])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(cfg)
    assert not [w for w in caught if "GradScaler" in str(w.message)]  # the discarded AMPTrainer's, silenced
    assert d2_defaults.create_ddp_model is create_ddp_model  # swapped for the construction only
    assert isinstance(trainer._trainer, DetrAMPTrainer)
    # the checkpointer the periodic hook saves with is the DETR one, and it saves the moving average
    periodic = [hook for hook in trainer._hooks if isinstance(hook, hooks.PeriodicCheckpointer)]
    assert len(periodic) == 1 and periodic[0].checkpointer is trainer.checkpointer
    assert isinstance(trainer.checkpointer, DetrCheckpointer)
    assert trainer.checkpointer.checkpointables["model_ema"] is trainer.model_ema
    assert [type(hook) for hook in trainer._hooks].count(EMAHook) == 1
    # SEED -1: one run seed, drawn once, read by the stream and saved in checkpoints
    assert trainer.seed == trainer.cfg.SEED >= 0
    assert trainer._train_stream.seed == trainer.seed and trainer.state_dict()["seed"] == trainer.seed


def test_ddp_of_a_cpu_model_gets_no_device_ids(monkeypatch):
    calls = []

    def recording_create_ddp_model(model, **kwargs):
        calls.append(kwargs)
        return model

    monkeypatch.setattr(d2_defaults, "create_ddp_model", recording_create_ddp_model)
    with cpu_capable_ddp():
        d2_defaults.create_ddp_model(nn.Linear(1, 1), broadcast_buffers=False)  # as DefaultTrainer calls it
    assert calls == [{"broadcast_buffers": False, "device_ids": None}]  # gloo: DDP refuses device ids on CPU
    assert d2_defaults.create_ddp_model is recording_create_ddp_model
